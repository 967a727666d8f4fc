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


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
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
            self._again[key] = min(due, self._again.get(key, due))
            return
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
                return key
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)

    def _done(self, key: K) -> None:
        self._active.discard(key)
        if key in self._again:
            due = self._again.pop(key)
            self.add(key, max(0.0, due - asyncio.get_running_loop().time()))

    async def serve(self, handle: Callable[[K], Awaitable[None]]) -> None:
        """One worker: take keys forever and handle each; run several for concurrency."""
        while True:
            key = await self._take()
            try:
                await handle(key)
            except Exception:
                logger.exception("unhandled error while processing %s", key)
            finally:
                self._done(key)
