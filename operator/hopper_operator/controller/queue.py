"""A de-duplicating, delayed work queue, as controller-runtime has.

A key is queued at most once; a key being processed is never processed twice at the same
time, and one queued meanwhile runs again afterwards. A burst of events for one object
(or of children changing under one parent) collapses into one reconcile.

Like client-go's rate-limited queue, it does what it is told: `add` (after a delay),
`add_rate_limited` (after the key's capped, jittered exponential backoff) and `forget` (reset
that backoff). What to tell it is `controller.outcome`'s business; the queue's own is a
worker stopped mid-way (leadership lost, or shutdown), whose key comes back at once for
whichever worker serves the queue next.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from hopper_operator.controller.records import Key

K = TypeVar("K", bound=Hashable)

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 60.0


class KeyQueue(Protocol):
    """What the controller tells the queue about a key, by client-go's verbs (the event
    handlers add and forget; `outcome.conclude` all three). `WorkQueue[Key]` is one."""

    def add(self, key: Key, delay: float = 0.0) -> None: ...

    def add_rate_limited(self, key: Key, retry_after: float | None = None) -> float: ...

    def forget(self, key: Key) -> None: ...


class QueueObserver:
    """What a work queue reports as it goes (metrics); this base ignores it all."""

    def added(self) -> None:
        """A key not already waiting was queued."""

    def retried(self) -> None:
        """A key was queued again because its processing failed."""

    def taken(self, waited: float) -> None:
        """A worker took a key `waited` seconds after it was due."""

    def done(self, worked: float) -> None:
        """A worker finished a key after `worked` seconds."""


class Backoff(Generic[K]):
    """Per-key exponential backoff: base * 2^(failures-1), capped, then jittered down by up
    to half (so keys that failed together do not retry together). A Retry-After from the
    server is a floor: never retry sooner than asked."""

    def __init__(
        self,
        base: float = BACKOFF_BASE_SECONDS,
        cap: float = BACKOFF_CAP_SECONDS,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._base, self._cap, self._jitter = base, cap, jitter
        self._failures: dict[K, int] = {}

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def next_delay(self, key: K, retry_after: float | None = None) -> float:
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        ceiling = min(self._cap, self._base * 2 ** min(failures - 1, 32))
        delay = ceiling * (1 - self._jitter() / 2)
        return float(max(delay, retry_after or 0.0))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)


class WorkQueue(Generic[K]):
    def __init__(
        self, *, observer: QueueObserver | None = None, backoff: Backoff[K] | None = None
    ) -> None:
        self.observer = observer or QueueObserver()
        self.backoff: Backoff[K] = backoff or Backoff()
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._active: set[K] = set()
        self._again: dict[K, float] = {}
        self._order = itertools.count()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._due) + len(self._again)

    def add(self, key: K, delay: float = 0.0) -> None:
        due = asyncio.get_running_loop().time() + delay
        if key in self._active:
            if key not in self._again:
                self.observer.added()
            self._again[key] = min(due, self._again.get(key, due))
            return
        if key not in self._due:
            self.observer.added()
        self._schedule(key, due)

    def _schedule(self, key: K, due: float) -> None:
        if key in self._due and self._due[key] <= due:
            return  # already queued to run no later than asked
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        self._changed.set()

    async def _take(self) -> K:
        loop = asyncio.get_running_loop()
        while True:
            while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                heapq.heappop(self._heap)  # superseded by an earlier due time
            wait = self._heap[0][0] - loop.time() if self._heap else None
            if wait is not None and wait <= 0:
                _, _, key = heapq.heappop(self._heap)
                del self._due[key]
                self._active.add(key)
                self.observer.taken(-wait)
                return key
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)

    def _done(self, key: K) -> None:
        self._active.discard(key)
        if key in self._again:
            # Counted as an add when it was queued; its wait started then, too.
            self._schedule(key, self._again.pop(key))

    def add_rate_limited(self, key: K, retry_after: float | None = None) -> float:
        """Queue `key` again after its backoff (a failure); the delay chosen."""
        self.observer.retried()
        delay = self.backoff.next_delay(key, retry_after)
        self.add(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Done with `key` for good (success, or the object is gone): reset its backoff."""
        self.backoff.forget(key)

    async def serve(self, handle: Callable[[K], Awaitable[None]]) -> None:
        """One worker: take keys forever and handle each; run several for concurrency.

        `handle` tells the queue what becomes of its key and raises nothing: the queue does
        not second-guess it. Only a worker stopped mid-way puts its key back.
        """
        while True:
            # Yield once per key: a key due at once and a handler that never suspends (a
            # decision with nothing to write, a write refused locally) would otherwise
            # never give the loop back, and the lease renewal, the watches and the signal
            # handlers would starve behind a resync of thousands.
            await asyncio.sleep(0)
            key = await self._take()
            started = asyncio.get_running_loop().time()
            try:
                await handle(key)
            except asyncio.CancelledError:
                self.add(key)  # stopped mid-way: the next worker to serve takes it again
                raise
            finally:
                self.observer.done(asyncio.get_running_loop().time() - started)
                self._done(key)
