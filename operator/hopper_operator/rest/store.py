"""HopperInstances as the REST layer reads and writes them: the one Kube client, logged in
as the API's own ServiceAccount (callers' rights are checked before, in `rest.access`).

Reads answer from the watch-backed cache (`read`, `list`); a write is judged on a fresh
read (`get`) and what the API server accepted is remembered in the cache at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hopper_operator.kube.client import Kube, KubeError
from hopper_operator.kube.versions import guarded
from hopper_operator.resources.paths import instance_path
from hopper_operator.rest.cache import Cache
from hopper_operator.rest.mapping import Object

WATCH_SECONDS = 60  # one watch request at most; the wait re-watches until its deadline


class Store:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.cache = Cache(kube)

    async def get(self, namespace: str, name: str) -> dict[str, Any]:
        """Fresh from the API server: what a write is judged on."""
        obj = await self.kube.request("GET", instance_path(namespace, name))
        self.cache.remember(obj)
        return obj

    async def read(self, namespace: str, name: str) -> Object:
        return await self.cache.get(namespace, name)

    async def list(self, namespace: str) -> list[Object]:
        return await self.cache.list(namespace)

    async def create(self, namespace: str, manifest: Object) -> dict[str, Any]:
        created = await self.kube.create(instance_path(namespace), manifest)
        self.cache.remember(created)
        return created

    async def patch(
        self, namespace: str, name: str, patch: Object, *, version: str | None = None
    ) -> dict[str, Any]:
        """A merge patch; with `version`, only onto that resourceVersion (else 409)."""
        body = patch if version is None else guarded(patch, version)
        patched = await self.kube.merge_patch(instance_path(namespace, name), body)
        self.cache.remember(patched)
        return patched

    async def delete(self, namespace: str, name: str) -> None:
        await self.kube.delete(instance_path(namespace, name))
        self.cache.forget(namespace, name)

    async def wait(
        self, obj: Object, done: Callable[[Object], bool], within: float
    ) -> tuple[Object, bool]:
        """Watch `obj` from its resourceVersion until `done` says so, it is deleted, or
        `within` seconds pass: the last version seen, and whether `done` (or gone) came first."""
        last, arrived = obj, True
        try:
            async with asyncio.timeout(within):
                while not done(last):
                    last, gone = await self._watch_once(last, done)
                    if gone:
                        return last, True
        except TimeoutError:
            arrived = False
        # What the watch showed is as new as anything: the client's next read must not
        # find the cache behind it.
        self.cache.remember(last)
        return last, arrived

    async def _watch_once(self, obj: Object, done: Callable[[Object], bool]) -> tuple[Object, bool]:
        meta = obj["metadata"]
        query = {
            "fieldSelector": f"metadata.name={meta['name']}",
            "resourceVersion": meta["resourceVersion"],
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        last = obj
        async for event in self.kube.watch(instance_path(meta["namespace"]), query):
            kind, seen = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                # 410 Gone: the version is too old to watch from; read it afresh.
                if seen.get("code") != 410:
                    raise KubeError(int(seen.get("code") or 500), str(seen.get("message")))
                return await self.get(meta["namespace"], meta["name"]), False
            if kind == "DELETED":
                return seen, True  # an Ephemeral instance goes once terminated
            if kind in ("ADDED", "MODIFIED"):
                last = seen
                if done(last):
                    break
        return last, False
