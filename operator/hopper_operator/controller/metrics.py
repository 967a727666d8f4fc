"""Prometheus metrics of the operator, served on their own port.

Work queue and reconcile series carry controller-runtime's names and labels, so the
dashboards and alerts people already run for Go operators work unchanged; `hopper_*` series
are ours. Instance counts are collected at scrape time from the in-memory index, so they
cost nothing between scrapes and are never stale.
"""

from __future__ import annotations

import platform
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import version

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hopper_operator.api.enums import ConditionType, Phase
from hopper_operator.controller.queue import QueueObserver
from hopper_operator.core.views import InstanceView

# controller-runtime labels its series with the controller's name (the lower-case kind).
CONTROLLER = "hopperinstance"
# Phases of an instance on its way somewhere (not where it rests): one that stays is stuck.
MOVING_PHASES = (Phase.STARTING, Phase.STOPPING)
# controller-runtime's buckets for workqueue_*_duration_seconds (10 ns to 10 s, by tens).
QUEUE_BUCKETS = tuple(10.0**exponent for exponent in range(-8, 2))
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Result(StrEnum):
    """controller_runtime_reconcile_total's `result` label."""

    SUCCESS = "success"
    ERROR = "error"
    REQUEUE = "requeue"


class _InstanceCollector(Collector):
    def __init__(
        self, instances: Callable[[], Iterable[InstanceView]], now: Callable[[], datetime]
    ) -> None:
        self._instances = instances
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = GaugeMetricFamily(
            "hopper_instances", "HopperInstances by scope and phase.", labels=["scope", "phase"]
        )
        stalled = GaugeMetricFamily(
            "hopper_instances_stalled",
            "HopperInstances whose Stalled condition is True, by scope and reason.",
            labels=["scope", "reason"],
        )
        oldest = GaugeMetricFamily(
            "hopper_instances_transition_oldest_seconds",
            "Of the instances in a transient phase (Starting, Stopping), the longest time one "
            "has not been Ready-changed, i.e. the oldest transition still under way.",
            labels=["phase"],
        )
        by_phase: Tally[tuple[str, str]] = Tally()
        by_stall: Tally[tuple[str, str]] = Tally()
        ages = dict.fromkeys(MOVING_PHASES, 0.0)
        now = self._now()
        for view in self._instances():
            scope = view.scope.value if view.scope else "unknown"
            by_phase[scope, view.phase.value] += 1
            if view.stalled is not None:
                by_stall[scope, view.stalled] += 1
            if view.phase in ages:
                ages[view.phase] = max(ages[view.phase], _in_phase_seconds(view, now))
        for (scope, phase), count in sorted(by_phase.items()):
            counts.add_metric([scope, phase], count)
        for (scope, reason), count in sorted(by_stall.items()):
            stalled.add_metric([scope, reason], count)
        for phase, age in ages.items():
            oldest.add_metric([phase.value], age)
        yield counts
        yield stalled
        yield oldest


def _in_phase_seconds(view: InstanceView, now: datetime) -> float:
    # A transition starts when Ready changes (Running -> Stopping) or, for a new instance,
    # when it was created (Ready was never True).
    ready = view.status.condition(ConditionType.READY)
    since = ready.last_transition_time if ready is not None else view.created_at
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


class _QueueMetrics(QueueObserver):
    """client-go's workqueue metrics, as controller-runtime registers them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        label = {"name": CONTROLLER}
        # Counted as client-go does (up on an add, down on a take), so that the queue can be
        # built with its observer, and the observer without the queue.
        self._depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", ["name"], registry=registry
        ).labels(**label)
        self._adds = Counter(
            "workqueue_adds",
            "Total number of adds handled by workqueue",
            ["name"],
            registry=registry,
        ).labels(**label)
        self._retries = Counter(
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            ["name"],
            registry=registry,
        ).labels(**label)
        self._waited = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            ["name"],
            buckets=QUEUE_BUCKETS,
            registry=registry,
        ).labels(**label)
        self._worked = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            ["name"],
            buckets=QUEUE_BUCKETS,
            registry=registry,
        ).labels(**label)
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
            registry=registry,
        ).labels(controller=CONTROLLER)

    def added(self) -> None:
        self._adds.inc()
        self._depth.inc()

    def retried(self) -> None:
        self._retries.inc()

    def taken(self, waited: float) -> None:
        self._depth.dec()
        self._waited.observe(waited)
        self.active_workers.inc()

    def done(self, worked: float) -> None:
        self._worked.observe(worked)
        self.active_workers.dec()


def _constants(registry: CollectorRegistry, workers: int, leading: Callable[[], bool]) -> None:
    """The series that describe the process rather than count what it does."""
    Gauge(
        "hopper_operator_build_info",
        "The operator's version and runtime; the value is always 1.",
        ["version", "python_version", "kopf_version"],
        registry=registry,
    ).labels(version("hopper-operator"), platform.python_version(), version("kopf")).set(1)
    Gauge(
        "controller_runtime_max_concurrent_reconciles",
        "Maximum number of concurrent reconciles per controller",
        ["controller"],
        registry=registry,
    ).labels(controller=CONTROLLER).set(workers)
    Gauge(
        "hopper_leader",
        "1 while this replica is sure it holds the leader Lease (only it writes), else 0.",
        registry=registry,
    ).set_function(lambda: float(leading()))


def _reconcile_series(registry: CollectorRegistry) -> tuple[Counter, Counter, Histogram]:
    """controller-runtime's reconcile series: by result, errors, and time per reconcile."""
    reconciles = Counter(
        "controller_runtime_reconcile",
        "Total number of reconciliations per controller",
        ["controller", "result"],
        registry=registry,
    )
    for result in Result:  # every result from the start: rate() needs the zero
        reconciles.labels(CONTROLLER, result.value)
    errors = Counter(
        "controller_runtime_reconcile_errors",
        "Total number of reconciliation errors per controller",
        ["controller"],
        registry=registry,
    ).labels(controller=CONTROLLER)
    time = Histogram(
        "controller_runtime_reconcile_time_seconds",
        "Length of time per reconciliation per controller",
        ["controller"],
        buckets=RECONCILE_BUCKETS,
        registry=registry,
    ).labels(controller=CONTROLLER)
    return reconciles, errors, time


class Metrics:
    def __init__(
        self,
        instances: Callable[[], Iterable[InstanceView]],
        workers: int = 1,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.registry = CollectorRegistry()
        # Memory, CPU, open file descriptors and the like, as every Prometheus client has.
        for default in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(default)
        self.registry.register(_InstanceCollector(instances, now))
        self.queue = _QueueMetrics(self.registry)
        _constants(self.registry, workers, leading)
        self.transitions = Counter(
            "hopper_transitions_total",
            "Lifecycle transitions taken, by source and target phase.",
            ["from_phase", "to_phase"],
            registry=self.registry,
        )
        self._reconciles, self._errors, self._reconcile_time = _reconcile_series(self.registry)
        self.unexpected_errors = Counter(
            "hopper_reconcile_unexpected_errors_total",
            "Reconciles that failed with an exception nobody expected (a bug; retried too).",
            ["kind"],
            registry=self.registry,
        )

    def reconciled(self, result: Result, seconds: float) -> None:
        self._reconciles.labels(CONTROLLER, result.value).inc()
        self._reconcile_time.observe(seconds)
        if result is Result.ERROR:
            self._errors.inc()

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        start_http_server(port, addr=address, registry=self.registry)
