"""Workloads under the `restricted` Pod Security Standard, enforced by the API server's own
PodSecurity admission; pods created by the real ReplicaSet controller."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Kubectl
from tests.integration.conftest import (
    Operator,
    PhaseRecorder,
    apply,
    condition,
    get_json,
    instance,
    instances,
    wait_for,
    wait_for_phases,
)

from hopper_localcluster.kubelet import StandInKubelet

RESTRICTED = (
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
)


def pods_of(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = f"hopper.dev/instance={name}"
    return list(get_json(kubectl, "pods", "-n", namespace, "-l", selector)["items"])


def test_a_runtime_runs_in_a_restricted_namespace(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    phases: PhaseRecorder,
) -> None:
    kubectl("label", "namespace", namespace, *RESTRICTED)
    kubectl("create", "serviceaccount", "robot", "-n", namespace)
    plain = {"image": "registry.example.com/app:1", "replicas": 2, "runAsUser": 1000}
    robot = {
        "image": "registry.example.com/app:1",
        "serviceAccountName": "robot",
        "fsGroup": 2000,
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
    }
    apply(kubectl, namespace, instance("plain", runtime=plain), instance("robot", runtime=robot))
    wait_for_phases(kubectl, namespace, {"plain": "Running", "robot": "Running"}, timeout=90)

    plain = pods_of(kubectl, namespace, "plain")
    assert len(plain) == 2
    for pod in plain:
        # Created by the ReplicaSet controller, and so admitted by PodSecurity admission.
        (owner,) = pod["metadata"]["ownerReferences"]
        assert owner["kind"] == "ReplicaSet"
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = spec["containers"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        # No ServiceAccount token: no projected token volume at all.
        assert spec["automountServiceAccountToken"] is False
        assert [v["name"] for v in spec["volumes"]] == ["config"]

    (robot,) = pods_of(kubectl, namespace, "robot")
    assert robot["spec"]["serviceAccountName"] == "robot"
    mounts = robot["spec"]["containers"][0]["volumeMounts"]
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in [m["mountPath"] for m in mounts]
    assert robot["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_a_runtime_breaking_restricted_is_reported_not_stuck(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    phases: PhaseRecorder,
) -> None:
    kubectl("label", "namespace", namespace, *RESTRICTED)
    apply(kubectl, namespace, instance("rooted", runtime={"image": "app:1", "runAsUser": 0}))

    def errored() -> dict[str, Any] | None:
        obj = instances(kubectl, namespace)["rooted"]
        return obj if obj.get("status", {}).get("phase") == "Error" else None

    obj = wait_for(errored, timeout=60, what="Error")
    # The ReplicaSet's FailedCreate reaches the Deployment as ReplicaFailure, and the
    # instance carries the admission's own words.
    stalled = condition(obj, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "DeploymentFailed"
    assert "ReplicaFailure" in stalled["message"]
    assert 'violates PodSecurity "restricted:latest"' in stalled["message"]
    assert "runAsUser=0" in stalled["message"]
    assert condition(obj, "Ready")["status"] == "False"
    assert pods_of(kubectl, namespace, "rooted") == []

    # Fixing the spec recovers it: admitted pods, Running.
    patch = json.dumps({"spec": {"runtime": {"runAsUser": 1000}}})
    kubectl("patch", "hopperinstance", "rooted", "-n", namespace, "--type=merge", "-p", patch)
    wait_for_phases(kubectl, namespace, {"rooted": "Running"}, timeout=90)
    assert phases.phases["rooted"][-3:] == ["Error", "Starting", "Running"]
