"""Workloads: Starting waits for availability; config changes up the tree roll them."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.conftest import Kubectl
from tests.integration.conftest import (
    Operator,
    PhaseRecorder,
    apply,
    apply_samples,
    condition,
    get_json,
    instance,
    instances,
    wait_for,
    wait_for_phases,
)

from hopper_localcluster import ControlPlane
from hopper_localcluster.kubelet import StandInKubelet


def template_hash(kubectl: Kubectl, namespace: str) -> str:
    deployment = get_json(kubectl, "deployment", "acme-web-release", "-n", namespace)
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["hopper.dev/config-hash"])


def test_starting_waits_for_the_workload_and_config_rolls_it(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    control_plane: ControlPlane,
    phases: PhaseRecorder,
) -> None:
    apply_samples(kubectl, namespace)
    others = dict.fromkeys(("acme", "acme-web", "acme-data", "acme-web-triage"), "Running")
    wait_for_phases(kubectl, namespace, others)
    time.sleep(2)  # no kubelet yet: the pods stay Pending, so the instance stays Starting
    release = instances(kubectl, namespace)["acme-web-release"]
    assert release["status"]["phase"] == "Starting"
    assert condition(release, "WorkloadAvailable")["status"] == "False"
    assert condition(release, "Ready")["status"] == "False"

    kubelet = StandInKubelet(control_plane).start()
    try:
        wait_for_phases(kubectl, namespace, {"acme-web-release": "Running"})
        release = instances(kubectl, namespace)["acme-web-release"]
        assert condition(release, "WorkloadAvailable")["status"] == "True"
        before = template_hash(kubectl, namespace)

        # A change at the root reaches the grandchild's ConfigMap and rolls its pods.
        patch = json.dumps({"spec": {"config": {"logLevel": "warn"}}})
        kubectl("patch", "hopperinstance", "acme", "-n", namespace, "--type=merge", "-p", patch)

        def rolled() -> dict[str, Any] | None:
            # The hash first: the operator writes the ConfigMap before the Deployment, so
            # a rolled template means the ConfigMap read next is already the new one.
            if template_hash(kubectl, namespace) == before:
                return None
            data = get_json(kubectl, "configmap", "acme-web-release-config", "-n", namespace)
            return json.loads(data["data"]["config.json"])  # type: ignore[no-any-return]

        config = wait_for(rolled, what="the Deployment to roll")
        assert config["logLevel"] == "warn" and config["router"]["strategy"] == "least-loaded"
        wait_for_phases(kubectl, namespace, "Running")
        assert phases.phases["acme-web-release"] == ["Created", "Starting", "Running"] or (
            phases.phases["acme-web-release"] == ["Starting", "Running"]
        )
    finally:
        kubelet.stop()


def test_failed_workload_is_an_error_until_the_spec_changes(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    phases: PhaseRecorder,
) -> None:
    apply(kubectl, namespace, instance("flaky", runtime={"image": "example/app:1"}))
    wait_for(
        lambda: kubectl("get", "deployment", "flaky", "-n", namespace, check=False).returncode == 0,
        what="the Deployment",
    )
    # No kubelet: the pod never gets ready. A short deadline makes the Deployment fail.
    kubectl(
        "patch",
        "deployment",
        "flaky",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"progressDeadlineSeconds":1}}',
    )

    def errored() -> dict[str, Any] | None:
        obj = instances(kubectl, namespace)["flaky"]
        return obj if obj.get("status", {}).get("phase") == "Error" else None

    obj = wait_for(errored, timeout=60, what="Error")
    assert condition(obj, "Stalled")["status"] == "True"
    assert "ProgressDeadlineExceeded" in condition(obj, "Stalled")["message"]
    assert "ProgressDeadlineExceeded" in condition(obj, "WorkloadAvailable")["message"]
    # Fixing the spec (no replicas needed) recovers it through Starting.
    kubectl(
        "patch",
        "hopperinstance",
        "flaky",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"runtime":{"replicas":0}}}',
    )
    wait_for_phases(kubectl, namespace, {"flaky": "Running"})
    assert phases.phases["flaky"][-3:] == ["Error", "Starting", "Running"]


def test_temporary_instance_terminates_after_its_ttl(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    phases: PhaseRecorder,
) -> None:
    apply(kubectl, namespace, instance("brief", instanceType="Temporary", ttlSeconds=3))
    running = wait_for_phases(kubectl, namespace, {"brief": "Running"})["brief"]
    assert running["status"]["expiresAt"] > running["status"]["startedAt"]
    wait_for_phases(kubectl, namespace, {"brief": "Terminated"}, timeout=30)
    assert phases.phases["brief"][-4:] == ["Running", "Stopping", "Stopped", "Terminated"]
