"""The work queue: one entry per key, the earliest due time wins, no key twice at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from hopper_operator.controller.queue import WorkQueue

Key = tuple[str, str]
A, B = ("ns", "a"), ("ns", "b")


@contextlib.asynccontextmanager
async def serving(
    queue: WorkQueue[Key], handle: Callable[[Key], Awaitable[None]], workers: int = 1
) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(queue.serve(handle)) for _ in range(workers)]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_burst_for_one_key_is_one_reconcile() -> None:
    queue: WorkQueue[Key] = WorkQueue()
    seen: list[Key] = []

    async def handle(key: Key) -> None:
        seen.append(key)

    for _ in range(5):
        queue.add(A)
    queue.add(B)
    assert len(queue) == 2
    async with serving(queue, handle):
        await asyncio.sleep(0.01)
    assert seen == [A, B]


async def test_a_delay_is_honoured_and_an_earlier_request_wins() -> None:
    queue: WorkQueue[Key] = WorkQueue()
    seen: list[Key] = []

    async def handle(key: Key) -> None:
        seen.append(key)

    queue.add(A, 0.05)
    queue.add(B, 60)
    queue.add(B, 0)  # earlier than asked before: the key runs now
    queue.add(A, 60)  # later than already queued: changes nothing
    async with serving(queue, handle):
        await asyncio.sleep(0.02)
        assert seen == [B]
        await asyncio.sleep(0.06)
    assert seen == [B, A]
    assert len(queue) == 0


async def test_a_key_queued_while_it_runs_runs_again_after_never_beside() -> None:
    queue: WorkQueue[Key] = WorkQueue()
    running, runs, overlaps = asyncio.Event(), [0], [0]
    active: set[Key] = set()

    async def handle(key: Key) -> None:
        if key in active:
            overlaps[0] += 1
        active.add(key)
        runs[0] += 1
        running.set()
        await asyncio.sleep(0.02)
        active.discard(key)

    queue.add(A)
    async with serving(queue, handle, workers=3):
        await running.wait()
        queue.add(A)
        queue.add(A)
        await asyncio.sleep(0.06)
    assert runs == [2] and overlaps == [0]
