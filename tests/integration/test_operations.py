"""What an operations team scrapes and probes: metrics and liveness."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import Operator, apply_samples, set_state, wait_for, wait_for_phases

from hopper_operator.controlplane import ControlPlane
from hopper_operator.controlplane.launcher import free_ports


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

    def sample(text: str, name: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )

    text = wait_for(lambda: (t := scrape(metrics)) and 'phase="Paused"' in t and t, what="metrics")
    assert 'hopper_instances{phase="Running",scope="GLOBAL"} 1.0' in text
    assert 'hopper_instances{phase="Paused",scope="PROJECT"} 1.0' in text
    assert 'hopper_transitions_total{from_phase="Running",to_phase="Paused"} 2.0' in text
    assert sample(text, "hopper_reconcile_duration_seconds_count") > 0
    assert "hopper_workqueue_depth" in text
    assert "hopper_reconcile_errors_total" in text
    assert scrape(liveness, "/healthz")  # Kopf's liveness endpoint answers while healthy
