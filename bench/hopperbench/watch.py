"""Our own watch on the instances of one namespace, and waits on what it shows."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp

from hopperbench.api import Api, ApiError, instances_path
from hopperbench.errors import BenchError

WATCH_SECONDS = 1800


class Seen(NamedTuple):
    phase: str | None
    ready: bool
    current: bool  # status.observedGeneration == metadata.generation


Predicate = Callable[[Seen], bool]


def seen(obj: dict[str, Any]) -> Seen:
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    current = status.get("observedGeneration") == meta.get("generation")
    return Seen(status.get("phase"), ready, current)


def settled_in(phase: str) -> Predicate:
    return lambda s: s.phase == phase and s.ready and s.current


@dataclass
class _Waiter:
    names: frozenset[str]
    predicate: Predicate
    satisfied: set[str]
    done: asyncio.Future[float]


@dataclass
class Tracker:
    """Latest state of every instance, fed by one watch; times when a wait is met."""

    api: Api
    namespace: str
    state: dict[str, Seen] = field(default_factory=dict)
    events: int = 0
    _waiter: _Waiter | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        version = await self._list()
        self._task = asyncio.create_task(self._watch(version))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(
        self, names: Collection[str], predicate: Predicate, within: float, what: str
    ) -> float:
        """Wait until every named instance satisfies `predicate`; the monotonic time it did."""
        names = frozenset(names)
        satisfied = {n for n in names if n in self.state and predicate(self.state[n])}
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiter = _Waiter(names, predicate, satisfied, done)
        self._check()
        assert self._task is not None, "start() the tracker first"
        try:
            pending: set[asyncio.Future[Any]] = {done, self._task}
            await asyncio.wait(pending, timeout=within, return_when="FIRST_COMPLETED")
        finally:
            self._waiter = None
        if done.done():
            return done.result()
        if self._task.done():
            raise BenchError(f"our watch failed while waiting for {what}") from (
                self._task.exception()
            )
        raise BenchError(
            f"timed out after {within:.0f} s waiting for {what}: "
            f"{len(satisfied)}/{len(names)} there; {self.summary(names)}"
        )

    def summary(self, names: Collection[str]) -> str:
        counts: dict[str, int] = {}
        for name in names:
            s = self.state.get(name)
            key = "absent" if s is None else f"{s.phase}/ready={s.ready}/current={s.current}"
            counts[key] = counts.get(key, 0) + 1
        return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))

    def _check(self) -> None:
        waiter = self._waiter
        if waiter and not waiter.done.done() and len(waiter.satisfied) == len(waiter.names):
            waiter.done.set_result(time.monotonic())

    def _update(self, name: str, value: Seen | None) -> None:
        if value is None:
            self.state.pop(name, None)
        else:
            self.state[name] = value
        waiter = self._waiter
        if waiter is None or name not in waiter.names:
            return
        if value is not None and waiter.predicate(value):
            waiter.satisfied.add(name)
        else:
            waiter.satisfied.discard(name)
        self._check()

    async def _list(self) -> str:
        listing = await self.api.request("GET", instances_path(self.namespace))
        fresh = {i["metadata"]["name"]: seen(i) for i in listing.get("items", ())}
        for name in set(self.state) - set(fresh):
            self._update(name, None)
        for name, value in fresh.items():
            self._update(name, value)
        return str(listing["metadata"]["resourceVersion"])

    async def _watch(self, version: str) -> None:
        while True:
            query = (
                f"?watch=1&allowWatchBookmarks=true&timeoutSeconds={WATCH_SECONDS}"
                f"&resourceVersion={version}"
            )
            try:
                async for event in self.api.stream(instances_path(self.namespace) + query):
                    version = self._handle(event, version)
            except (ApiError, _ExpiredError, aiohttp.ClientError):
                await asyncio.sleep(0.2)
                version = await self._list()

    def _handle(self, event: dict[str, Any], version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise _ExpiredError(str(obj.get("message")))
        meta = obj.get("metadata", {})
        if kind != "BOOKMARK":
            self.events += 1
            name = meta["name"]
            self._update(name, None if kind == "DELETED" else seen(obj))
        return str(meta.get("resourceVersion") or version)


class _ExpiredError(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""
