"""What an operations team scrapes and probes: metrics and liveness."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import Kubectl
from tests.integration.conftest import Operator, apply_samples, set_state, wait_for, wait_for_phases

from hopper_localcluster import ControlPlane, free_ports


@pytest.fixture
def observed_operator(
    control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path
) -> Iterator[tuple[Operator, int, int]]:
    metrics, liveness = free_ports(2)
    running = Operator(
        control_plane,
        namespace,
        tmp_path / "operator.log",
        "--metrics-port",
        str(metrics),
        # Plain HTTP here: tests/integration/test_metrics_auth.py covers the default.
        "--metrics-auth",
        "none",
        "--liveness",
        f"http://127.0.0.1:{liveness}/healthz",
    )
    running.start()
    try:
        yield running, metrics, liveness
    finally:
        running.stop()
        print("\n".join(running.log().splitlines()[-100:]))


def scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


def test_metrics_and_liveness(
    kubectl: Kubectl, namespace: str, observed_operator: tuple[Operator, int, int]
) -> None:
    _, metrics, liveness = observed_operator
    apply_samples(kubectl, namespace)
    expected = dict.fromkeys(("acme", "acme-web", "acme-data", "acme-web-triage"), "Running")
    wait_for_phases(kubectl, namespace, expected, timeout=90)
    set_state(kubectl, namespace, "acme-data", "Paused")
    wait_for_phases(kubectl, namespace, {"acme-data": "Paused", "acme-data-etl": "Paused"})

    text = wait_for(lambda: (t := scrape(metrics)) and 'phase="Paused"' in t and t, what="metrics")
    series = parse_metrics(text)
    controller, queue = {"controller": "hopperinstance"}, {"name": "hopperinstance"}

    # Ours: instances by scope and phase, transitions, build info.
    assert value(series, "hopper_instances", phase="Running", scope="GLOBAL") == 1
    assert value(series, "hopper_instances", phase="Paused", scope="PROJECT") == 1
    assert value(series, "hopper_instances_stalled") == 0  # no series: nothing Stalled
    # Instances with a workload wait in Starting here (no kubelet runs their pods): the
    # oldest has waited since the samples were applied, within this test.
    starting = value(series, "hopper_instances", phase="Starting")
    oldest = value(series, "hopper_instances_transition_oldest_seconds", phase="Starting")
    assert (0 < oldest < 120) if starting else oldest == 0, (starting, oldest)
    assert value(series, "hopper_transitions_total", from_phase="Running", to_phase="Paused") == 2
    assert value(series, "hopper_transitions_total", to_phase="Running") >= len(expected)
    assert value(series, "hopper_leader") == 1  # no election here: this replica writes
    (build,) = [labels for name, labels, _ in series if name == "hopper_operator_build_info"]
    assert build["version"] == version("hopper-operator")

    # controller-runtime's names: every reconcile counted once, in the histogram too.
    reconciles = value(series, "controller_runtime_reconcile_total", **controller)
    successes = value(series, "controller_runtime_reconcile_total", result="success")
    assert successes >= 6 and reconciles >= successes
    assert value(series, "controller_runtime_reconcile_time_seconds_count") == reconciles
    assert value(series, "controller_runtime_reconcile_errors_total", **controller) == 0
    assert value(series, "controller_runtime_max_concurrent_reconciles", **controller) == 16
    assert value(series, "controller_runtime_active_workers", **controller) >= 0
    adds = value(series, "workqueue_adds_total", **queue)
    taken = value(series, "workqueue_queue_duration_seconds_count", **queue)
    worked = value(series, "workqueue_work_duration_seconds_count", **queue)
    assert adds >= taken >= worked >= reconciles > 0
    assert value(series, "workqueue_retries_total", **queue) == 0
    assert 0 <= value(series, "workqueue_depth", **queue) <= adds
    # Some key waited and some reconcile took a measurable time (not a constant zero).
    assert value(series, "workqueue_queue_duration_seconds_sum", **queue) > 0
    assert value(series, "workqueue_work_duration_seconds_sum", **queue) > 0

    # The default process metrics: a Python process of some tens of MiB with open files.
    assert 20 * 2**20 < value(series, "process_resident_memory_bytes") < 2**30
    assert value(series, "process_cpu_seconds_total") > 0
    assert value(series, "process_open_fds") > 3
    assert scrape(liveness, "/healthz")  # Kopf's liveness endpoint answers while healthy


Sample = tuple[str, dict[str, str], float]


def parse_metrics(text: str) -> list[Sample]:
    """The Prometheus text format, parsed by the client library's own parser."""
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(series: list[Sample], metric: str, /, **labels: str) -> float:
    """The sum over the series of `metric` whose labels include `labels`."""
    return sum(
        number
        for sample_name, sample_labels, number in series
        if sample_name == metric and labels.items() <= sample_labels.items()
    )
