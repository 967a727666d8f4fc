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
class Parts:
    """The parts the startup handler starts, which the other handlers use and cleanup stops."""

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
    _parts: Parts | None = None

    def __copy__(self) -> Context:
        return self

    def started(self, parts: Parts) -> None:
        self._parts = parts

    @property
    def parts(self) -> Parts:
        if self._parts is None:
            raise RuntimeError("hopper-operator: a handler ran before the startup handler")
        return self._parts

    def stopped(self) -> Parts | None:
        parts, self._parts = self._parts, None
        return parts

    async def shutdown(self) -> None:
        """Stop the workers and release the Lease, if started (a signal's first step)."""
        if self._parts is not None:
            await self._parts.supervisor.shutdown()
