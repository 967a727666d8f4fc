"""Lifecycle changes on a GLOBAL reach its whole subtree, one legal step at a time."""

from __future__ import annotations

import json
import time

from tests.conftest import Kubectl
from tests.integration.conftest import (
    Operator,
    PhaseRecorder,
    apply_samples,
    instances,
    owned_objects,
    set_state,
    wait_for,
    wait_for_phases,
)

from hopper_localcluster.kubelet import StandInKubelet


def test_pause_resume_stop_restart_terminate_reach_the_subtree(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    phases: PhaseRecorder,
) -> None:
    apply_samples(kubectl, namespace)
    wait_for_phases(kubectl, namespace, "Running", timeout=90)

    set_state(kubectl, namespace, "acme", "Paused")
    wait_for_phases(kubectl, namespace, "Paused")
    deployment = json.loads(
        kubectl("get", "deployment", "acme-web-release", "-n", namespace, "-o", "json").stdout
    )
    assert deployment["spec"]["replicas"] == 0  # Paused keeps the workload, scaled to zero

    set_state(kubectl, namespace, "acme", "Running")
    wait_for_phases(kubectl, namespace, "Running")

    set_state(kubectl, namespace, "acme", "Stopped")
    wait_for_phases(kubectl, namespace, "Stopped")
    assert kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout == ""
    assert "acme-web-config" in kubectl("get", "configmaps", "-n", namespace).stdout  # config kept

    set_state(kubectl, namespace, "acme", "Running")
    wait_for_phases(kubectl, namespace, "Running", timeout=90)

    # Right after the start, in the same second: the token is compared as text.
    token = "restart-right-after-start"
    kubectl(
        "annotate",
        "hopperinstance",
        "acme",
        "-n",
        namespace,
        f"hopper.dev/restartedAt={token}",
        "--overwrite",
    )
    wait_for(
        lambda: instances(kubectl, namespace)["acme"]["status"].get("lastRestart") == token,
        what="the restart carried out",
    )
    wait_for_phases(kubectl, namespace, "Running", timeout=90)
    for name in ("acme", "acme-web", "acme-web-release"):
        assert phases.phases[name][-4:] == ["Stopping", "Stopped", "Starting", "Running"], (
            name,
            phases.phases[name],
        )

    set_state(kubectl, namespace, "acme", "Terminated")
    wait_for_phases(
        kubectl,
        namespace,
        {
            "acme": "Terminated",
            "acme-web": "Terminated",
            "acme-data": "Terminated",
            "acme-web-release": "Terminated",
            "acme-web-triage": "Terminated",
        },
    )
    # The Ephemeral sample deleted itself once Stopped on the way; the rest stay, final.
    wait_for(lambda: "acme-data-etl" not in instances(kubectl, namespace), what="ephemeral gone")
    # Terminated removes what the instances own; the garbage collector takes the
    # ephemeral one's ConfigMap after it (allowing for its 30 s discovery refresh).
    wait_for(
        lambda: owned_objects(kubectl, namespace) == "", timeout=90, what="owned objects removed"
    )
    refused = kubectl(
        "patch",
        "hopperinstance",
        "acme",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"state":"Running"}}',
        check=False,
    )
    assert refused.returncode != 0 and "Terminated is final" in refused.stderr
    time.sleep(2)
    assert {o["status"]["phase"] for o in instances(kubectl, namespace).values()} == {"Terminated"}
