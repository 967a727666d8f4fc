"""A de-duplicating, delayed work queue, as controller-runtime has.

A key is queued at most once; a key being processed is never processed twice at the same
time, and one queued meanwhile runs again afterwards. A burst of events for one object
(or of children changing under one parent) collapses into one reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
logger = logging.getLogger(__name__)


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


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self.observer = QueueObserver()
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

    async def serve(self, handle: Callable[[K], Awaitable[None]]) -> None:
        """One worker: take keys forever and handle each; run several for concurrency."""
        while True:
            key = await self._take()
            started = asyncio.get_running_loop().time()
            try:
                await handle(key)
            except Exception:
                logger.exception("unhandled error while processing %s", key)
            finally:
                self.observer.done(asyncio.get_running_loop().time() - started)
                self._done(key)
