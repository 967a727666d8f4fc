"""HopperInstances as the REST layer reads and writes them: the one Kube client, logged in
as the API's own ServiceAccount (callers' rights are checked before, in `rest.access`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hopper_operator.kube.client import Kube, KubeError
from hopper_operator.resources.paths import instance_path
from hopper_operator.rest.mapping import Object

WATCH_SECONDS = 60  # one watch request at most; the wait re-watches until its deadline


class Store:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    async def get(self, namespace: str, name: str) -> dict[str, Any]:
        return await self.kube.request("GET", instance_path(namespace, name))

    async def list(self, namespace: str) -> list[dict[str, Any]]:
        listed = await self.kube.request("GET", instance_path(namespace))
        items: list[dict[str, Any]] = listed.get("items") or []
        return items

    async def create(self, namespace: str, manifest: Object) -> dict[str, Any]:
        return await self.kube.create(instance_path(namespace), manifest)

    async def patch(
        self, namespace: str, name: str, patch: Object, *, version: str | None = None
    ) -> dict[str, Any]:
        """A merge patch; with `version`, only onto that resourceVersion (else 409)."""
        body = dict(patch)
        if version is not None:
            body["metadata"] = {**(patch.get("metadata") or {}), "resourceVersion": version}
        return await self.kube.merge_patch(instance_path(namespace, name), body)

    async def delete(self, namespace: str, name: str) -> None:
        await self.kube.delete(instance_path(namespace, name))

    async def wait(
        self, obj: Object, done: Callable[[Object], bool], within: float
    ) -> tuple[Object, bool]:
        """Watch `obj` from its resourceVersion until `done` says so, it is deleted, or
        `within` seconds pass: the last version seen, and whether `done` (or gone) came first."""
        last = obj
        try:
            async with asyncio.timeout(within):
                while not done(last):
                    last, gone = await self._watch_once(last, done)
                    if gone:
                        return last, True
        except TimeoutError:
            return last, False
        return last, True

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
