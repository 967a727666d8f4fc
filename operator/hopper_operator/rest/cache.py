"""The instances of each namespace the API is asked about, as the process's shared
list-watch (kube/informer.py) holds them: reads answer from memory, writes go to the API
server, and what a write of ours returned is laid over the informer's view until the
informer has caught up with it (a client reads its own writes from this replica).

The API reads every namespace through one all-namespaces informer, started with the
process (`rest.app`); elsewhere a namespace's informer starts at its first read. Until it has listed, or while its watch
is broken, reads go straight to the API server: a cache never answers from a state it
could not vouch for.
"""

from __future__ import annotations

import asyncio

from hopper_operator.kube.client import NotFoundError
from hopper_operator.kube.informer import Informers, View
from hopper_operator.kube.versions import version_of
from hopper_operator.resources.paths import instance_path
from hopper_operator.rest.mapping import Object

SYNC_WAIT = 5.0  # seconds a read waits for a new namespace's first list


def _uid(obj: Object | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


class Cache:
    def __init__(self, informers: Informers) -> None:
        self.informers = informers
        self.kube = informers.kube
        # Per namespace, by name: what our writes returned, newer than the informer's view.
        self._written: dict[str, dict[str, Object]] = {}
        # Per namespace, by name: the uid of an object we deleted, hidden while the
        # informer still holds it (its finalizers walk it through a few updates first).
        self._deleted: dict[str, dict[str, str]] = {}

    def informer(self, namespace: str) -> View:
        return self.informers.of(namespace)

    async def list(self, namespace: str) -> list[Object]:
        informer = await self._ready(namespace)
        if informer is None:
            listed = await self.kube.request("GET", instance_path(namespace))
            items: list[Object] = listed.get("items") or []
            return items
        names = {o["metadata"]["name"] for o in informer.objects()}
        names.update(self._written.get(namespace, ()))
        found = (self._visible(informer, namespace, name) for name in sorted(names))
        return [obj for obj in found if obj is not None]

    async def get(self, namespace: str, name: str) -> Object:
        informer = await self._ready(namespace)
        if informer is None:
            return await self.kube.request("GET", instance_path(namespace, name))
        obj = self._visible(informer, namespace, name)
        if obj is None:
            raise NotFoundError(404, f"{name} not found")
        return obj

    def remember(self, obj: Object) -> None:
        """What a write of ours returned: maybe newer than anything the informer holds."""
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        written = self._written.setdefault(namespace, {})
        if version_of(obj) > version_of(written.get(name)):
            written[name] = obj
        self.informer(namespace)  # started, so that it catches up with this write

    def newest_write(self, namespace: str) -> int:
        """The version of our newest write in `namespace` the informer may not have seen."""
        return max(map(version_of, self._written.get(namespace, {}).values()), default=0)

    def forget(self, namespace: str, name: str) -> None:
        """Deleted by us: hidden from now on, though the informer may hold it a while."""
        held = self.informer(namespace).get(name)
        uid = _uid(self._written.get(namespace, {}).get(name) or held)
        if uid:
            self._deleted.setdefault(namespace, {})[name] = uid

    async def _ready(self, namespace: str) -> View | None:
        """The namespace's informer if it can be read from, else None."""
        informer = self.informer(namespace)
        try:
            await asyncio.wait_for(informer.synced(), SYNC_WAIT)
        except TimeoutError:
            return None
        return informer if informer.healthy else None

    def _visible(self, informer: View, namespace: str, name: str) -> Object | None:
        seen = informer.get(name)
        written = self._written.get(namespace, {})
        ours = written.get(name)
        if ours is not None and version_of(ours) <= informer.version:
            del written[name]  # the informer has seen it, or what came after it
            ours = None
        obj = ours if ours is not None and version_of(ours) > version_of(seen) else seen
        deleted = self._deleted.get(namespace, {})
        hidden = deleted.get(name)
        if hidden and _uid(seen) != hidden and _uid(ours) != hidden:
            del deleted[name]  # gone from the informer's view too
        return None if hidden and _uid(obj) == hidden else obj
