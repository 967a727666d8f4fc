"""Prometheus metrics of the operator, served on their own port.

Instance counts are collected at scrape time from the in-memory index, so they cost
nothing between scrapes and are never stale.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hopper_operator.core.views import InstanceView


class _InstanceCollector(Collector):
    def __init__(self, instances: Callable[[], Iterable[InstanceView]]) -> None:
        self._instances = instances

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hopper_instances", "HopperInstances by scope and phase.", labels=["scope", "phase"]
        )
        tally = Tally(
            (view.spec.scope.value if view.spec else "unknown", view.phase.value)
            for view in self._instances()
        )
        for (scope, phase), count in sorted(tally.items()):
            family.add_metric([scope, phase], count)
        yield family


class Metrics:
    def __init__(
        self,
        instances: Callable[[], Iterable[InstanceView]],
        queue_depth: Callable[[], int],
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_InstanceCollector(instances))
        self.transitions = Counter(
            "hopper_transitions_total",
            "Lifecycle transitions taken, by source and target phase.",
            ["from_phase", "to_phase"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            "hopper_reconcile_duration_seconds",
            "Time to reconcile one instance, writes included.",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.reconcile_errors = Counter(
            "hopper_reconcile_errors_total",
            "Reconciles that failed and were retried, by kind of error.",
            ["kind"],
            registry=self.registry,
        )
        queue = Gauge(
            "hopper_workqueue_depth", "Instances waiting to be reconciled.", registry=self.registry
        )
        queue.set_function(queue_depth)

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        start_http_server(port, addr=address, registry=self.registry)
