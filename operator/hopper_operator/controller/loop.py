"""controller-runtime's processNextWorkItem: reconcile a key, then do what its outcome says.

The reconciler decides and reports; `outcome.conclude` moves the key; this measures the
pass between the two.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from hopper_operator.controller.metrics import Metrics, Result
from hopper_operator.controller.outcome import (
    Done,
    Failure,
    Outcome,
    Requeue,
    Retry,
    Stopped,
    conclude,
)
from hopper_operator.controller.queue import KeyQueue
from hopper_operator.controller.reconciler import Reconciler
from hopper_operator.controller.records import Key


def result_of(outcome: Outcome) -> Result | None:
    """controller_runtime_reconcile_total's `result`; None for a pass that did not run."""
    match outcome:
        case Done():
            return Result.SUCCESS
        case Requeue():
            return Result.REQUEUE
        case Retry(failure=Failure.NOT_FOUND):
            return Result.REQUEUE
        case Retry():
            return Result.ERROR
    return None


@dataclass(frozen=True)
class Controller:
    reconciler: Reconciler
    queue: KeyQueue
    metrics: Metrics | None = None

    async def process(self, key: Key) -> None:
        started = time.monotonic()
        records = self.reconciler.records
        try:
            outcome = await self.reconciler.reconcile(key)
        except asyncio.CancelledError:
            conclude(Stopped(), key, queue=self.queue, records=records)
            raise
        self._measure(outcome, time.monotonic() - started)
        conclude(outcome, key, queue=self.queue, records=records)

    def _measure(self, outcome: Outcome, seconds: float) -> None:
        result = result_of(outcome)
        if self.metrics is None or result is None:
            return
        self.metrics.reconciled(result, seconds)
        if isinstance(outcome, Retry) and outcome.failure is Failure.UNEXPECTED:
            self.metrics.unexpected_errors.labels(type(outcome.error).__name__).inc()
