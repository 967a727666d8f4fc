"""The work queue's reports and the series they feed, with controller-runtime's names."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hopper_operator.api.enums import Phase
from hopper_operator.controller.metrics import Metrics, Result
from hopper_operator.controller.queue import WorkQueue
from hopper_operator.core.views import instance_view

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _get(metrics: Metrics, metric: str, /, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in _samples(metrics).items()
        if sample == metric and frozenset(labels.items()) <= sample_labels
    )


def _instance(name: str, phase: Phase, *, stalled: bool = False, ready_since: int = 0) -> object:
    changed = (NOW - timedelta(seconds=ready_since)).isoformat()
    conditions = [
        {"type": "Ready", "status": "False", "reason": "Walking", "lastTransitionTime": changed}
    ]
    if stalled:
        conditions.append(
            {
                "type": "Stalled",
                "status": "True",
                "reason": "DeploymentFailed",
                "lastTransitionTime": changed,
            }
        )
    return instance_view(
        {
            "metadata": {"namespace": "ns", "name": name, "uid": name},
            "spec": {"scope": "GLOBAL", "state": "Running"},
            "status": {"phase": phase.value, "conditions": conditions},
        }
    )


def test_queue_reports_adds_waits_and_work_once_per_key() -> None:
    async def scenario() -> Metrics:
        metrics = Metrics(instances=list, workers=2, now=lambda: NOW)
        queue: WorkQueue[str] = WorkQueue(observer=metrics.queue)
        queue.add("a")
        queue.add("a")  # deduplicated: not an add
        queue.add("b", 0.05)
        assert _get(metrics, "workqueue_depth", name="hopperinstance") == 2
        seen: list[str] = []
        third_done = asyncio.Event()

        async def handle(key: str) -> None:
            seen.append(key)
            if key == "a" and seen.count("a") == 1:
                queue.add("a")  # queued while being processed: an add, run again after
            await asyncio.sleep(0.01)
            if len(seen) == 3:
                third_done.set()

        worker = asyncio.create_task(queue.serve(handle))
        await asyncio.wait_for(third_done.wait(), timeout=5)
        await asyncio.sleep(0)  # let the worker's `finally` report the third key done
        worker.cancel()
        assert sorted(seen) == ["a", "a", "b"]
        return metrics

    metrics = asyncio.run(scenario())
    queue = {"name": "hopperinstance"}
    assert _get(metrics, "workqueue_adds_total", **queue) == 3
    assert _get(metrics, "workqueue_queue_duration_seconds_count", **queue) == 3
    assert _get(metrics, "workqueue_work_duration_seconds_count", **queue) == 3
    assert _get(metrics, "workqueue_work_duration_seconds_sum", **queue) >= 0.03
    assert _get(metrics, "workqueue_depth", **queue) == 0
    assert _get(metrics, "controller_runtime_active_workers", controller="hopperinstance") == 0
    assert _get(metrics, "controller_runtime_max_concurrent_reconciles") == 2


def test_reconcile_results_and_errors() -> None:
    metrics = Metrics(instances=list, now=lambda: NOW)
    # Every result is there from the start, at zero: rate() and ratios need the series.
    assert _get(metrics, "controller_runtime_reconcile_total", result="error") == 0
    assert (
        "controller_runtime_reconcile_total",
        frozenset({("controller", "hopperinstance"), ("result", "error")}),
    ) in _samples(metrics)
    metrics.reconciled(Result.SUCCESS, 0.2)
    metrics.reconciled(Result.ERROR, 0.1)
    metrics.queue.retried()
    assert _get(metrics, "controller_runtime_reconcile_total") == 2
    assert _get(metrics, "controller_runtime_reconcile_total", result="success") == 1
    assert _get(metrics, "controller_runtime_reconcile_errors_total") == 1
    assert _get(metrics, "controller_runtime_reconcile_time_seconds_count") == 2
    assert abs(_get(metrics, "controller_runtime_reconcile_time_seconds_sum") - 0.3) < 1e-9
    assert _get(metrics, "workqueue_retries_total") == 1


def test_instances_stalled_and_oldest_transition() -> None:
    views = [
        _instance("a", Phase.RUNNING),
        _instance("b", Phase.STARTING, ready_since=30),
        _instance("c", Phase.STARTING, ready_since=700, stalled=True),
        _instance("d", Phase.STOPPING, ready_since=5),
    ]
    metrics = Metrics(instances=lambda: views, now=lambda: NOW)
    assert _get(metrics, "hopper_instances", scope="GLOBAL", phase="Starting") == 2
    assert _get(metrics, "hopper_instances", phase="Running") == 1
    stalled = {"scope": "GLOBAL", "reason": "DeploymentFailed"}
    assert _get(metrics, "hopper_instances_stalled", **stalled) == 1
    oldest = "hopper_instances_transition_oldest_seconds"
    assert _get(metrics, oldest, phase="Starting") == 700
    assert _get(metrics, oldest, phase="Stopping") == 5


def test_build_info_and_process_metrics() -> None:
    metrics = Metrics(instances=list, now=lambda: NOW)
    assert _get(metrics, "hopper_operator_build_info") == 1
    assert _get(metrics, "process_resident_memory_bytes") > 0
    assert _get(metrics, "process_open_fds") > 0


def test_leader_gauge_follows_the_election() -> None:
    leading = [False]
    metrics = Metrics(instances=list, leading=lambda: leading[0])
    assert _get(metrics, "hopper_leader") == 0
    leading[0] = True
    assert _get(metrics, "hopper_leader") == 1
