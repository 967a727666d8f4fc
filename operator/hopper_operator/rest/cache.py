"""The instances of each namespace the API is asked about, kept by one list and watch per
namespace: reads answer from memory, writes go to the API server (and what it accepted is
remembered at once, so a client reads its own writes from this replica).

A namespace's cache starts at its first read. Until it is synced, or while its watch is
broken, reads go straight to the API server: a cache never answers from a state it could
not vouch for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hopper_operator.kube.client import Kube, KubeError, NotFoundError
from hopper_operator.kube.versions import revision_of as _version
from hopper_operator.resources.paths import instance_path
from hopper_operator.rest.mapping import Object

logger = logging.getLogger(__name__)

SYNC_WAIT = 5.0  # seconds a read waits for a new namespace's first list
RETRY = 1.0  # seconds between attempts to list and watch again after a failure
WATCH_SECONDS = "300"


class _GoneError(Exception):
    """The watch's version is too old (410): list again."""


@dataclass
class _Space:
    objects: dict[str, Object] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    # Names deleted here and not yet seen deleted by the watch (a list older than the
    # delete must not bring them back).
    gone: set[str] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class Cache:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._spaces: dict[str, _Space] = {}

    async def list(self, namespace: str) -> list[Object]:
        space = await self._synced(namespace)
        if space is None:
            listed = await self.kube.request("GET", instance_path(namespace))
            items: list[Object] = listed.get("items") or []
            return items
        return [obj for name, obj in space.objects.items() if name not in space.gone]

    async def get(self, namespace: str, name: str) -> Object:
        space = await self._synced(namespace)
        if space is None:
            return await self.kube.request("GET", instance_path(namespace, name))
        obj = space.objects.get(name)
        if obj is None or name in space.gone:
            raise NotFoundError(404, f"{name} not found")
        return obj

    def remember(self, obj: Object) -> None:
        """What a write of ours returned: newer than anything the watch has shown yet."""
        meta = obj.get("metadata") or {}
        space = self._spaces.get(meta.get("namespace", ""))
        if space is not None:
            space.gone.discard(meta.get("name", ""))  # created (again) by us
            self._store(space, obj)

    def forget(self, namespace: str, name: str) -> None:
        space = self._spaces.get(namespace)
        if space is not None:
            space.gone.add(name)

    async def close(self) -> None:
        tasks = [space.task for space in self._spaces.values() if space.task]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _synced(self, namespace: str) -> _Space | None:
        space = self._spaces.get(namespace)
        if space is None:
            space = self._spaces[namespace] = _Space()
            space.task = asyncio.create_task(self._keep(namespace, space))
        if not space.synced.is_set():
            try:
                await asyncio.wait_for(space.synced.wait(), SYNC_WAIT)
            except TimeoutError:
                return None
        return space

    @staticmethod
    def _store(space: _Space, obj: Object) -> None:
        name = obj["metadata"]["name"]
        known = space.objects.get(name)
        if known is None or _version(obj) >= _version(known):
            space.objects[name] = obj

    async def _keep(self, namespace: str, space: _Space) -> None:
        """List, then watch from the list's version, for as long as the API runs."""
        while True:
            try:
                version = await self._list(namespace, space)
                space.synced.set()
                while True:
                    version = await self._watch(namespace, space, version)
            except _GoneError:
                continue
            except (KubeError, aiohttp.ClientError, OSError, TimeoutError) as error:
                space.synced.clear()
                logger.warning(
                    "instances of %s: cache not in sync (%r); retrying", namespace, error
                )
                await asyncio.sleep(RETRY)
            except Exception:
                # Never a task that died unseen, leaving a cache that says it is in sync.
                space.synced.clear()
                logger.exception("instances of %s: cache failed; listing again", namespace)
                await asyncio.sleep(RETRY)

    async def _list(self, namespace: str, space: _Space) -> str:
        listed = await self.kube.request("GET", instance_path(namespace))
        version = str(listed["metadata"]["resourceVersion"])
        fresh: dict[str, Object] = {o["metadata"]["name"]: o for o in listed.get("items") or ()}
        # Writes of ours newer than this list stay (the watch will confirm them).
        newer = {n: o for n, o in space.objects.items() if _version(o) > int(version or 0)}
        space.objects = {**fresh, **newer}
        return version

    async def _watch(self, namespace: str, space: _Space, version: str) -> str:
        query = {
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": WATCH_SECONDS,
        }
        async for event in self.kube.watch(instance_path(namespace), query):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _GoneError
                raise KubeError(int(obj.get("code") or 500), str(obj.get("message")))
            version = str(obj["metadata"]["resourceVersion"])
            self._apply(space, kind, obj)
        return version

    def _apply(self, space: _Space, kind: Any, obj: Object) -> None:
        name = obj["metadata"].get("name", "")
        if kind in ("ADDED", "MODIFIED"):
            if kind == "ADDED":
                space.gone.discard(name)  # created again
            self._store(space, obj)
        elif kind == "DELETED":
            space.gone.discard(name)
            known = space.objects.get(name)
            if known is not None and _version(known) <= _version(obj):
                del space.objects[name]
