"""No key is ever dropped: the backoff policy, the queue's requeue of a stopped worker's
key, and the outcome of every failure a real run meets, carried out by the controller."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from hopper_operator.controller.indexes import Indexes
from hopper_operator.controller.loop import Controller
from hopper_operator.controller.metrics import CONTROLLER, Metrics
from hopper_operator.controller.queue import BACKOFF_CAP_SECONDS, Backoff, WorkQueue
from hopper_operator.controller.reconciler import Reconciler, Walk
from hopper_operator.controller.records import Key, Records
from hopper_operator.controller.wakeups import Recount, Wakeups
from hopper_operator.controller.workers import Workers
from hopper_operator.core.views import InstanceView
from hopper_operator.kube.client import ConflictError, KubeError, NotFoundError, WriteRefusedError
from tests.unit.builders import view

KEY: Key = ("ns", "acme")


def test_backoff_doubles_is_capped_and_jittered_down_only() -> None:
    top = Backoff[str](jitter=lambda: 0.0)
    assert [top.next_delay("k") for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    for _ in range(100):
        assert top.next_delay("k") <= BACKOFF_CAP_SECONDS <= 60
    assert top.next_delay("k") == BACKOFF_CAP_SECONDS
    bottom = Backoff[str](jitter=lambda: 0.999999)
    assert bottom.next_delay("k") == pytest.approx(0.25, rel=1e-3)
    top.forget("k")
    assert (top.failures("k"), top.next_delay("k")) == (0, 0.5)


def test_retry_after_is_a_floor() -> None:
    backoff = Backoff[str](jitter=lambda: 0.0)
    assert backoff.next_delay("k", retry_after=7.0) == 7.0
    assert backoff.next_delay("k", retry_after=0.1) == 1.0


async def test_serve_requeues_what_is_cancelled_and_nothing_else() -> None:
    """What becomes of a key is its handler's to say (`outcome.conclude`); the queue's
    own part is the key of a worker stopped mid-way."""
    queue = WorkQueue[str]()
    seen: list[str] = []
    gate = asyncio.Event()

    async def handle(key: str) -> None:
        seen.append(key)
        if key == "slow":
            await gate.wait()

    queue.add("done")
    worker = asyncio.create_task(queue.serve(handle))
    await asyncio.sleep(0.01)
    assert seen == ["done"] and len(queue) == 0  # handled: the queue adds nothing of its own
    queue.add("slow")
    await asyncio.sleep(0.05)
    worker.cancel()  # mid-handle: leadership lost
    await asyncio.gather(worker, return_exceptions=True)
    assert len(queue) == 1  # "slow" is back, for the next term


async def test_a_worker_gives_the_loop_back_between_keys() -> None:
    """Handlers that never suspend, keys always due: other tasks (the lease renewal, the
    watches, a signal handler) still run."""
    queue = WorkQueue[int]()
    for key in range(1000):
        queue.add(key)

    async def handle(key: int) -> None:
        queue.add(key)  # due again at once, as a refused write used to be

    worker = asyncio.create_task(queue.serve(handle))
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0)
        ticks += 1
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    assert ticks == 10


class Failing:
    """Stands in for the walk: raises the next exception given, then succeeds."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, world: Any) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


@dataclass(frozen=True)
class Stubbed(Reconciler):
    """The real reconciler, its walk stood in for."""

    walk: Failing = field(default_factory=Failing)

    async def _run(self, world: Any, walk: Walk) -> None:
        await self.walk(world)


@dataclass(frozen=True)
class Rig:
    controller: Controller
    queue: WorkQueue[Key]
    store: dict[Key, list[InstanceView]]

    @property
    def metrics(self) -> Metrics:
        assert self.controller.metrics is not None
        return self.controller.metrics


def rig(instance: InstanceView | None, walk: Failing, base: float = 0.01) -> Rig:
    store: dict[Key, list[InstanceView]] = {KEY: [instance]} if instance else {}

    def none(_: Key) -> list[Any]:
        return []

    indexes = Indexes(
        instances=lambda key: store.get(key, []),
        children=none,
        workloads=none,
        config_maps=none,
        pods=none,
    )
    metrics = Metrics(instances=list)
    queue = WorkQueue[Key](observer=metrics.queue, backoff=Backoff(base=base, jitter=lambda: 0.0))
    reconciler = Stubbed(None, indexes, Records(), metrics, walk=walk)  # type: ignore[arg-type]
    return Rig(Controller(reconciler, queue, metrics), queue, store)


async def drive(rigged: Rig, seconds: float) -> None:
    worker = asyncio.create_task(rigged.queue.serve(rigged.controller.process))
    await asyncio.sleep(seconds)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)


def sample(rigged: Rig, metric: str, /, **labels: str) -> float:
    value = rigged.metrics.registry.get_sample_value(metric, labels)
    return value or 0.0


@pytest.mark.parametrize(
    "error",
    [
        aiohttp.ServerDisconnectedError(),  # the drill's dropped key: not an OSError
        aiohttp.ClientPayloadError("cut short"),
        ConnectionResetError(104, "reset by peer"),
        TimeoutError(),
        KubeError(500, "etcdserver: request timed out"),
        KubeError(429, "too many requests", retry_after=0.02),
        KubeError(403, "forbidden"),  # someone fixes the RBAC later: keep trying
        NotFoundError(404, "namespace is terminating"),  # the instance itself is still there
        RuntimeError("a bug"),
    ],
    ids=lambda e: type(e).__name__ + str(getattr(e, "status", "")),
)
async def test_every_failure_is_retried_until_success(error: Exception) -> None:
    walk = Failing(error, error)
    rigged = rig(view("acme"), walk)
    rigged.queue.add(KEY)
    await drive(rigged, 0.3)
    assert walk.calls == 3 and len(rigged.queue) == 0
    assert rigged.queue.backoff.failures(KEY) == 0  # success forgets
    errors = sample(rigged, "controller_runtime_reconcile_errors_total", controller=CONTROLLER)
    assert errors == (0 if isinstance(error, NotFoundError) else 2)  # a 404 is a requeue
    assert sample(rigged, "workqueue_retries_total", name=CONTROLLER) == 2
    kind = type(error).__name__
    unexpected = sample(rigged, "hopper_reconcile_unexpected_errors_total", kind=kind)
    assert unexpected == (2 if isinstance(error, RuntimeError) else 0)


async def test_unexpected_errors_are_logged_with_their_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rigged = rig(view("acme"), Failing(RuntimeError("a bug")))
    rigged.queue.add(KEY)
    await drive(rigged, 0.1)
    (record,) = [r for r in caplog.records if r.exc_info]
    assert "unexpected error reconciling ns/acme" in record.getMessage()


async def test_a_key_leaves_the_queue_once_its_object_is_gone() -> None:
    walk = Failing(*[aiohttp.ServerDisconnectedError()] * 100)
    rigged = rig(view("acme"), walk)
    store = rigged.store
    rigged.queue.add(KEY)
    await drive(rigged, 0.1)
    assert walk.calls >= 2 and len(rigged.queue) == 1  # still failing, still queued
    store.clear()  # the watch saw it deleted
    rigged.queue.add(KEY)
    await drive(rigged, 0.05)
    assert len(rigged.queue) == 0 and rigged.queue.backoff.failures(KEY) == 0


async def test_a_newer_version_from_the_watch_resets_the_backoff_and_runs_now() -> None:
    walk = Failing(*[KubeError(500, "down")] * 6)
    rigged = rig(view("acme"), walk, base=10.0)
    store, records = rigged.store, rigged.controller.reconciler.records
    wakeups = Wakeups(rigged.queue, lambda key: [], Recount(rigged.queue), records)
    rigged.queue.add(KEY)
    await drive(rigged, 0.05)
    assert walk.calls == 1 and rigged.queue.backoff.failures(KEY) == 1  # next in 10 s
    wakeups.instance(view("acme"), gone=False)  # the same version (a child's event): no reset
    assert rigged.queue.backoff.failures(KEY) == 1
    newer = view("acme")
    object.__setattr__(newer, "resource_version", "11")
    store[KEY] = [newer]
    wakeups.instance(newer, gone=False)  # the watch brings a newer version
    assert rigged.queue.backoff.failures(KEY) == 0
    await drive(rigged, 0.05)
    # At once, not in 10 s; and failing again counts from one, not from two.
    assert walk.calls == 2 and rigged.queue.backoff.failures(KEY) == 1


async def test_conflicts_and_refused_writes_requeue_without_counting_as_failures() -> None:
    walk = Failing(ConflictError(409, "modified"), WriteRefusedError("not the leader"))
    rigged = rig(view("acme"), walk)
    rigged.queue.add(KEY)
    await drive(rigged, 2.0)
    assert walk.calls == 3 and len(rigged.queue) == 0
    errors = sample(rigged, "controller_runtime_reconcile_errors_total", controller=CONTROLLER)
    assert errors == 0


async def test_a_failing_reconcile_does_not_stop_the_worker() -> None:
    """Moved from the queue's tests: the failure is the controller's to carry out."""
    other: Key = ("ns", "other")
    walk = Failing(RuntimeError("boom"))
    rigged = rig(view("acme"), walk, base=10.0)
    rigged.store[other] = [view("other")]
    rigged.queue.add(KEY)
    rigged.queue.add(other, 0.001)
    await drive(rigged, 0.02)
    assert walk.calls == 2  # KEY failed, and the same worker went on to the next key
    assert len(rigged.queue) == 1 and rigged.queue.backoff.failures(KEY) == 1  # KEY is back


async def test_a_new_term_starts_from_every_known_key() -> None:
    queue = WorkQueue[str]()
    handled: list[str] = []

    async def handle(key: str) -> None:
        handled.append(key)

    synced = asyncio.Event()
    workers = Workers(
        queue=queue, handle=handle, count=2, keys=lambda: ["a", "b"], synced=synced.wait
    )
    workers.start()
    await asyncio.sleep(0.02)
    assert handled == []  # no term before the indexes are synced
    synced.set()
    await asyncio.sleep(0.02)
    workers.stop()
    await workers.join()
    workers.start()
    await asyncio.sleep(0.02)
    await workers.close()
    workers.start()  # closed: no new term
    assert sorted(handled) == ["a", "a", "b", "b"]
