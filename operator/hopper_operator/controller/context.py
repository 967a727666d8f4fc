"""What Kopf's handlers share, typed: the operator's memo.

Kopf hands every handler a shallow copy of the memo made per object; this one copies to
itself, so every handler sees the one queue, reconciler and client the startup built.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from hopper_operator.controller.readiness import Readiness
from hopper_operator.controller.reconciler import Reconciler
from hopper_operator.controller.records import Key
from hopper_operator.controller.settings import Settings
from hopper_operator.controller.wakeups import Wakeups
from hopper_operator.controller.workers import Supervisor
from hopper_operator.kube.client import Kube


@dataclass(frozen=True)
class Running:
    """What the startup handler builds."""

    kube: Kube  # writes: refused while this replica is not sure it leads
    aside: Kube  # never refused: the Lease, reviews of metrics callers, reads
    reconciler: Reconciler  # its world(), which the admission webhooks judge on too
    wakeups: Wakeups
    supervisor: Supervisor[Key]  # the workers, and the election that lets them run
    readiness: Readiness
    background: tuple[asyncio.Task[None], ...]
    metrics_server: web.AppRunner | None


@dataclass
class Context:
    settings: Settings
    _running: Running | None = None

    def __copy__(self) -> Context:
        return self

    def started(self, running: Running) -> None:
        self._running = running

    @property
    def running(self) -> Running:
        if self._running is None:
            raise RuntimeError("hopper-operator: a handler ran before the startup handler")
        return self._running

    def stopped(self) -> Running | None:
        running, self._running = self._running, None
        return running

    async def shutdown(self) -> None:
        """Stop the workers and release the Lease, if started (a signal's first step)."""
        if self._running is not None:
            await self._running.supervisor.shutdown()
