"""Owned objects carry the hashes the reconciler compares against."""

from __future__ import annotations

import json
from typing import Any

from hopper_operator.api.runtime import Runtime
from hopper_operator.core.config import config_hash
from hopper_operator.core.views import workload_view
from hopper_operator.core.workload import workload_hash
from hopper_operator.resources.owned import config_map, deployment

RUNTIME = Runtime.model_validate(
    {"image": "img:1", "replicas": 2, "args": ["-v"], "env": [{"name": "A", "value": "1"}]}
)


def test_deployment_carries_the_hash_the_core_expects() -> None:
    body = deployment(
        instance="i", namespace="n", uid="u", runtime=RUNTIME, replicas=2, config_digest="c1"
    )
    assert workload_view(body).spec_hash == workload_hash(RUNTIME, 2, "c1")


def test_deployment_rolls_when_config_changes_and_mounts_it() -> None:
    one = deployment(
        instance="i", namespace="n", uid="u", runtime=RUNTIME, replicas=2, config_digest="c1"
    )
    two = deployment(
        instance="i", namespace="n", uid="u", runtime=RUNTIME, replicas=2, config_digest="c2"
    )
    template_one, template_two = one["spec"]["template"], two["spec"]["template"]
    assert template_one["metadata"]["annotations"] != template_two["metadata"]["annotations"]
    assert template_one["spec"]["volumes"][0]["configMap"]["name"] == "i-config"
    (owner,) = one["metadata"]["ownerReferences"]
    assert owner["uid"] == "u" and owner["controller"] is True


def test_config_map_holds_the_canonical_config_and_its_hash() -> None:
    config = {"b": 1, "a": {"x": [1, 2]}}
    body = config_map(instance="i", namespace="n", uid="u", config=config)
    assert json.loads(body["data"]["config.json"]) == config
    assert body["metadata"]["annotations"]["hopper.dev/config-hash"] == config_hash(config)


def _pod(**runtime: object) -> dict[str, Any]:
    body = deployment(
        instance="i",
        namespace="n",
        uid="u",
        runtime=Runtime.model_validate({"image": "img:1", **runtime}),
        replicas=1,
        config_digest="c",
    )
    return body["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_pods_meet_the_restricted_standard_by_default() -> None:
    pod = _pod()
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod
    assert container["volumeMounts"] == [
        {"name": "config", "mountPath": "/etc/hopper", "readOnly": True}
    ]
    for absent in ("nodeSelector", "tolerations", "imagePullSecrets"):
        assert absent not in pod
    for absent in ("readinessProbe", "livenessProbe", "command", "args"):
        assert absent not in container


def test_a_named_service_account_gets_its_token_and_ids_are_passed_on() -> None:
    pod = _pod(serviceAccountName="robot", runAsUser=1000, runAsGroup=2000, fsGroup=3000)
    assert pod["serviceAccountName"] == "robot"
    assert "automountServiceAccountToken" not in pod  # the ServiceAccount's own choice
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 2000,
        "fsGroup": 3000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # Asking for uid 0 is asking for root: the pod does not claim non-root then, and a
    # namespace enforcing `restricted` refuses it (the operator reports that refusal).
    assert _pod(runAsUser=0)["securityContext"]["runAsNonRoot"] is False


def test_scheduling_pull_secrets_and_probes_reach_the_pod() -> None:
    pod = _pod(
        imagePullSecrets=[{"name": "regcred"}],
        nodeSelector={"kubernetes.io/arch": "amd64"},
        tolerations=[{"key": "dedicated", "value": "hopper", "effect": "NoSchedule"}],
        readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
        livenessProbe={"exec": {"command": ["true"]}},
    )
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "hopper", "effect": "NoSchedule"}
    ]
    (container,) = pod["containers"]
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/ready", "port": 8080},
        "periodSeconds": 5,
    }
    assert container["livenessProbe"] == {"exec": {"command": ["true"]}}


def test_every_runtime_field_shapes_the_workload_hash() -> None:
    # A change to any runtime field must roll the Deployment: the hash covers them all.
    base = Runtime.model_validate({"image": "img:1"})
    changes: dict[str, Any] = {
        "serviceAccountName": "robot",
        "imagePullSecrets": [{"name": "s"}],
        "nodeSelector": {"a": "b"},
        "tolerations": [{"operator": "Exists"}],
        "runAsUser": 1,
        "runAsGroup": 1,
        "fsGroup": 1,
        "readinessProbe": {"tcpSocket": {"port": 1}},
        "livenessProbe": {"tcpSocket": {"port": 1}},
    }
    assert set(changes) | {"image", "replicas", "command", "args", "env", "resources"} == {
        field.alias for field in Runtime.model_fields.values()
    }
    before = workload_hash(base, 1, "c")
    for key, value in changes.items():
        changed = Runtime.model_validate({"image": "img:1", key: value})
        assert workload_hash(changed, 1, "c") != before, key
