"""HopperInstances as the REST layer reads and writes them: the one Kube client, logged in
as the API's own ServiceAccount (callers' rights are checked before, in `rest.access`).

Reads answer from the cache over the shared list-watch (`read`, `list`); a write is judged
on a fresh read (`get`) and what the API server accepted is remembered in the cache at
once; a wait follows the object on the same list-watch (no request opens a watch)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hopper_operator.kube.client import Kube
from hopper_operator.kube.informer import Informers, Kind
from hopper_operator.kube.versions import guarded, version_of
from hopper_operator.resources.paths import instance_path
from hopper_operator.rest.cache import Cache
from hopper_operator.rest.mapping import Object


class Store:
    def __init__(self, kube: Kube, informers: Informers) -> None:
        self.kube = kube
        self.cache = Cache(informers)

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

    async def delete(self, namespace: str, name: str, *, uid: str) -> None:
        """Delete the object of `uid` only: never one recreated under the name meanwhile
        (409). No resourceVersion: the operator's status writes move it on, rightly."""
        await self.kube.delete(instance_path(namespace, name), preconditions={"uid": uid})
        self.cache.forget(namespace, name)

    async def wait(
        self, obj: Object, done: Callable[[Object], bool], within: float
    ) -> tuple[Object, bool]:
        """Follow `obj` past its resourceVersion (on the namespace's shared list-watch)
        until `done` says so, it is deleted, or `within` seconds pass: the last version
        seen, and whether `done` (or gone) came first."""
        last, arrived = obj, True
        try:
            async with asyncio.timeout(within):
                while not done(last):
                    last, gone = await self._follow(last, done)
                    if gone:
                        return last, True
        except TimeoutError:
            arrived = False
        # What the informer showed is as new as anything: the client's next read must
        # not find the cache behind it.
        self.cache.remember(last)
        return last, arrived

    async def _follow(self, obj: Object, done: Callable[[Object], bool]) -> tuple[Object, bool]:
        """The changes of `obj` after its version until `done`, its deletion (True), or
        the subscription's end (an overflow: the caller follows again from the last)."""
        meta = obj["metadata"]
        informer = self.cache.informer(meta["namespace"])
        last, name, reset = obj, meta["name"], False
        subscription = await informer.subscribe(
            after=version_of(obj), where=lambda seen: seen["metadata"]["name"] == name
        )
        async with subscription:
            async for change in subscription:
                if change.kind is Kind.DELETED:
                    return change.obj or last, True  # an Ephemeral instance goes once terminated
                reset = reset or change.kind is Kind.RESET
                if reset and change.kind is Kind.SYNCED and informer.get(name) is None:
                    return last, True  # a fresh snapshot without it: gone meanwhile
                if change.obj is not None:
                    last = change.obj
                    if done(last):
                        break
        return last, False
