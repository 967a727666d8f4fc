"""Prometheus metrics of the API: requests and their latency per route, method and code."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Up to the 30 s a lifecycle request waits by default, and beyond.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("route", "method", "code")
        self.requests = Counter(
            "hopper_api_requests_total",
            "Requests served by the Instance API.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "hopper_api_request_duration_seconds",
            "Time to answer a request of the Instance API, lifecycle waits included.",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, method: str, code: int, seconds: float) -> None:
        self.requests.labels(route, method, str(code)).inc()
        self.latency.labels(route, method, str(code)).observe(seconds)
