"""The reconcile workers, and who lets them run: the leader election, or nobody.

Every replica watches and keeps its indexes warm, and its queue fills from the watch
whether it leads or not; only the leader's workers take keys from it. A term waits for the
indexes to be synced (no decision from a half-listed world), starts from every known
instance (what the last leader may have left half-done), and ends at once when the lease
is lost: the workers are cancelled mid-request, and their keys go back to the queue for the
next term, here or elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

from hopper_operator.controller.leader import LeaderElector
from hopper_operator.controller.queue import WorkQueue

K = TypeVar("K", bound=Hashable)
logger = logging.getLogger(__name__)

DRAIN_SECONDS = 2.0  # Events still being posted at shutdown: a courtesy, not worth waiting on


class Workers(Generic[K]):
    def __init__(
        self,
        *,
        queue: WorkQueue[K],
        handle: Callable[[K], Awaitable[None]],
        count: int,
        keys: Callable[[], Iterable[K]],
        synced: Callable[[], Awaitable[None]],
    ) -> None:
        self._queue, self._handle, self._count, self._keys = queue, handle, count, keys
        self._synced = synced
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    def start(self) -> None:
        if self._closed or self._tasks:
            return
        self._tasks = [asyncio.create_task(self._term())]

    async def _term(self) -> None:
        await self._synced()
        for key in self._keys():
            self._queue.add(key)
        await asyncio.gather(*(self._queue.serve(self._handle) for _ in range(self._count)))

    def stop(self) -> None:
        """At once: no await between the decision and the cancellation."""
        for task in self._tasks:
            task.cancel()

    async def join(self) -> None:
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        self.stop()
        await self.join()


class Supervisor(Generic[K]):
    """Runs the workers while this replica may write; shuts down in the right order."""

    def __init__(
        self,
        workers: Workers[K],
        elector: LeaderElector | None,
        drain: Callable[[], Awaitable[None]],
    ) -> None:
        self._workers, self._elector, self._drain = workers, elector, drain
        self._campaign: asyncio.Task[None] | None = None
        self._shutdown: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._elector is None:
            self._workers.start()
            return
        self._campaign = asyncio.create_task(
            self._elector.run(on_started=self._workers.start, on_stopped=self._on_stopped)
        )

    def _on_stopped(self) -> None:
        self._workers.stop()
        # Reap the cancelled workers in the background, so the next term starts clean.
        asyncio.get_running_loop().create_task(self._workers.join())

    def leading(self) -> bool:
        return self._elector is None or self._elector.leading()

    async def shutdown(self) -> None:
        """Stop the workers (in-flight requests abandoned), let Events finish briefly, then
        release the lease so that a standby takes over without waiting for it to expire.
        Idempotent, and safe to call from a signal handler and from cleanup alike."""
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._stop_everything())
        await asyncio.shield(self._shutdown)

    async def _stop_everything(self) -> None:
        await self._workers.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                await self._drain()
        if self._campaign is not None:
            self._campaign.cancel()
            await asyncio.gather(self._campaign, return_exceptions=True)
        if self._elector is not None:
            await self._elector.release()


def take_over_signals(shutdown: Callable[[], Awaitable[None]], stop: Callable[[], None]) -> None:
    """Replace Kopf's SIGTERM/SIGINT handlers (call it right after kopf.spawn_tasks, which
    installs them): `shutdown` first (workers stopped, Lease released), then `stop` Kopf,
    whose watches would otherwise stop first and take seconds."""

    async def shut_down() -> None:
        try:
            await shutdown()
        finally:
            stop()

    def on_signal(received: signal.Signals) -> None:
        logger.info("%s received: stopping workers and releasing the lease", received.name)
        task = asyncio.create_task(shut_down())
        _signalled.add(task)
        task.add_done_callback(_signalled.discard)

    loop = asyncio.get_running_loop()
    for received in (signal.SIGTERM, signal.SIGINT):
        # Only the main thread may; an operator under a test runner's thread keeps Kopf's.
        with contextlib.suppress(ValueError, RuntimeError):
            loop.add_signal_handler(received, on_signal, received)


_signalled: set[asyncio.Task[None]] = set()  # keeps the shutdown task referenced
