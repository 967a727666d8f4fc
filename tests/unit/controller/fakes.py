"""A recording stand-in for `kube.client.Kube`: what the controller sent, in order.

It keeps the objects it was sent by path and answers as the API server does where the
controller depends on it: resourceVersions grow on every write, a stale one is refused
(409), a create of an existing object is refused (409), a patch of a missing object is
404, a delete of a missing one is quietly done and one of another uid or version refused
(409). Errors can be scripted per call.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hopper_operator.kube.client import ConflictError, KubeError, NotFoundError


@dataclass(frozen=True)
class Call:
    verb: str
    path: str
    body: Mapping[str, Any] | None


def apply_merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = apply_merge_patch(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass
class RecordingKube:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # (verb, path) -> the error the next such call raises
    failures: dict[tuple[str, str], KubeError | OSError] = field(default_factory=dict)
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def put(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Store an object as if it existed already (the index saw it)."""
        stored = copy.deepcopy(dict(body))
        self.objects[path] = stored
        return stored

    @property
    def sent(self) -> list[tuple[str, str]]:
        return [(call.verb, call.path) for call in self.calls]

    def _record(self, verb: str, path: str, body: Mapping[str, Any] | None) -> None:
        self.calls.append(Call(verb, path, copy.deepcopy(body)))
        failure = self.failures.pop((verb, path), None)
        if failure is not None:
            raise failure

    def _stamp(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))
        self.objects[path] = body
        return copy.deepcopy(body)

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._record("create", path, body)
        meta = body.get("metadata", {})
        name = meta.get("name") or f"{meta.get('generateName', '')}{len(self.calls)}"
        target = f"{path}/{name}"
        if target in self.objects:
            raise ConflictError(409, f"{name} already exists")
        return self._stamp(target, copy.deepcopy(dict(body)))

    async def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._record("merge-patch", path, body)
        stored_path = path.removesuffix("/status")
        current = self.objects.get(stored_path)
        if current is None:
            raise NotFoundError(404, f"{path} not found")
        wanted = body.get("metadata", {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "the object has been modified")
        patch = copy.deepcopy(dict(body))
        patch.get("metadata", {}).pop("resourceVersion", None)
        return self._stamp(stored_path, apply_merge_patch(current, patch))

    async def apply(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._record("apply", path, body)
        current = self.objects.get(path, {})
        return self._stamp(path, apply_merge_patch(current, body))

    async def delete(self, path: str, *, preconditions: Mapping[str, Any] | None = None) -> None:
        self._record("delete", path, {"preconditions": preconditions} if preconditions else None)
        current = self.objects.get(path)
        if current is not None and preconditions:
            meta = current["metadata"]
            for key in ("uid", "resourceVersion"):
                if key in preconditions and preconditions[key] != meta.get(key):
                    raise ConflictError(409, f"Precondition failed: {key}")
        self.objects.pop(path, None)
