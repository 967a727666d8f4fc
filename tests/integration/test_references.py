"""Every name-like string of the spec is refused at `kubectl apply` unless Kubernetes would
accept it where it ends up, each with its own message; valid unusual values pass."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import apply, get_json, manifest, wait_for
from tests.integration.test_api_validation import assert_absent, bad

pytestmark = pytest.mark.usefixtures("crd")

PREFIX_254 = ".".join(["a" * 63] * 4) + "bb"


def runtime(**fields: Any) -> dict[str, Any]:
    return bad(scope="GLOBAL", runtime={"image": "app:1", **fields})


def toleration(**fields: Any) -> dict[str, Any]:
    return runtime(tolerations=[fields])


# (case, manifest, the field the API server names, the message it must give)
INVALID_REFERENCES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "parent name with uppercase and '_'",
        bad(scope="PROJECT", parentRef={"name": "Acme_Web"}),
        "spec.parentRef.name",
        "must be the name of a HopperInstance: a DNS-1123 subdomain",
    ),
    (
        "image with whitespace",
        runtime(image="registry.example.com/app :1"),
        "spec.runtime.image",
        "must be a container image reference",
    ),
    (
        "env name starting with a digit",
        runtime(env=[{"name": "1ST", "value": "x"}]),
        "spec.runtime.env[0].name",
        "must be an environment variable name",
    ),
    (
        "env name twice",
        runtime(env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
        "spec.runtime.env[1]",
        "Duplicate value",
    ),
    (
        "service account with '_'",
        runtime(serviceAccountName="my_robot"),
        "spec.runtime.serviceAccountName",
        "must be the name of a ServiceAccount",
    ),
    (
        "pull secret with uppercase",
        runtime(imagePullSecrets=[{"name": "RegCred"}]),
        "spec.runtime.imagePullSecrets[0].name",
        "must be the name of a Secret",
    ),
    (
        "node selector key with a space",
        runtime(nodeSelector={"disk type": "ssd"}),
        "spec.runtime.nodeSelector",
        "every key must be a label key",
    ),
    (
        "node selector key prefix over 253",
        runtime(nodeSelector={f"{PREFIX_254}/zone": "a"}),
        "spec.runtime.nodeSelector",
        "every key: the prefix of a label key (before '/') is at most 253 characters",
    ),
    (
        "node selector value ending in '-'",
        runtime(nodeSelector={"disktype": "ssd-"}),
        "spec.runtime.nodeSelector[disktype]",
        "must be a label value",
    ),
    (
        "toleration key with '!'",
        toleration(key="dedicated!", operator="Exists"),
        "spec.runtime.tolerations[0].key",
        "must be a taint key",
    ),
    (
        "toleration value with a space",
        toleration(key="dedicated", value="hopper team"),
        "spec.runtime.tolerations[0].value",
        "must be a taint value",
    ),
    (
        "toleration without key, operator Equal",
        toleration(value="x"),
        "spec.runtime.tolerations[0]",
        "a toleration without a key tolerates every taint: it needs operator Exists",
    ),
    (
        "toleration Exists with a value",
        toleration(key="dedicated", operator="Exists", value="x"),
        "spec.runtime.tolerations[0]",
        "a toleration with operator Exists matches any value: remove its value",
    ),
    (
        "tolerationSeconds without NoExecute",
        toleration(key="dedicated", effect="NoSchedule", tolerationSeconds=5),
        "spec.runtime.tolerations[0]",
        "tolerationSeconds applies only to effect NoExecute",
    ),
    (
        "unknown taint effect",
        toleration(key="dedicated", effect="NoRun"),
        "spec.runtime.tolerations[0].effect",
        'Unsupported value: "NoRun"',
    ),
    (
        "unqualified resource name",
        runtime(resources={"limits": {"gpu": "1"}}),
        "spec.runtime.resources.limits",
        "every key must be a resource name",
    ),
    (
        "quantity that is not one",
        runtime(resources={"requests": {"memory": "lots"}}),
        "spec.runtime.resources.requests[memory]",
        "must be a quantity",
    ),
    (
        "request above its limit",
        runtime(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}),
        "spec.runtime.resources",
        "a request cannot exceed the limit of the same resource",
    ),
    (
        "probe path without '/'",
        runtime(readinessProbe={"httpGet": {"path": "healthz", "port": 8080}}),
        "spec.runtime.readinessProbe.httpGet.path",
        "must be an HTTP path",
    ),
    (
        "probe with two checks",
        runtime(livenessProbe={"tcpSocket": {"port": 80}, "exec": {"command": ["true"]}}),
        "spec.runtime.livenessProbe",
        "a probe has exactly one of httpGet, tcpSocket or exec",
    ),
    (
        "probe port out of range",
        runtime(readinessProbe={"tcpSocket": {"port": 70000}}),
        "spec.runtime.readinessProbe.tcpSocket.port",
        "should be less than or equal to 65535",
    ),
    (
        "negative user id",
        runtime(runAsUser=-1),
        "spec.runtime.runAsUser",
        "should be greater than or equal to 0",
    ),
]


def test_every_invalid_reference_is_refused_with_its_own_message(
    kubectl: Kubectl, namespace: str
) -> None:
    assert len(INVALID_REFERENCES) >= 15
    messages = [message for *_, message in INVALID_REFERENCES]
    assert len(set(messages)) == len(messages), "each case must be told apart by its message"
    failures = []
    for case, obj, field, message in INVALID_REFERENCES:
        result = apply(kubectl, namespace, obj, check=False)
        said = result.stderr
        if result.returncode == 0 or f"{field}:" not in said or message not in said:
            failures.append(f"{case}: exit {result.returncode}, stderr: {said.strip()}")
        assert_absent(kubectl, namespace, obj["metadata"]["name"])
    assert not failures, "\n".join(failures)


def test_valid_unusual_references_are_accepted(kubectl: Kubectl, namespace: str) -> None:
    obj = manifest(
        "fine",
        scope="GLOBAL",
        runtime={
            "image": "registry.example.com:5000/team/app-v2:1.2.3@sha256:" + "ab" * 32,
            "env": [{"name": "_LOG_LEVEL2", "value": "any text = fine"}],
            "serviceAccountName": "robot.team-a",
            "imagePullSecrets": [{"name": "reg.cred"}],
            "nodeSelector": {"kubernetes.io/arch": "amd64", "zone": ""},
            "tolerations": [
                {"operator": "Exists"},
                {"key": "node.example.com/dedicated", "value": "Hopper_1", "effect": "NoExecute"},
                {
                    "key": "gone",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 0,
                },
            ],
            "resources": {
                "requests": {"cpu": "500m", "memory": "1G", "example.com/gpu": "1"},
                "limits": {"cpu": "0.5", "memory": "1Gi", "hugepages-2Mi": "4Mi"},
            },
            "runAsUser": 1000,
            "runAsGroup": 0,
            "fsGroup": 2000,
            "readinessProbe": {"httpGet": {"path": "/ready?full=1", "port": 8080}},
            "livenessProbe": {"exec": {"command": ["/bin/true"]}, "failureThreshold": 5},
        },
    )
    assert "created" in apply(kubectl, namespace, obj).stdout
    stored = get_json(kubectl, "hopperinstance", "fine", "-n", namespace)["spec"]["runtime"]
    assert stored["tolerations"][1]["operator"] == "Equal"  # defaulted by the API server
    assert stored["readinessProbe"]["httpGet"]["path"] == "/ready?full=1"


def test_explain_says_what_each_reference_accepts(kubectl: Kubectl) -> None:
    expected = {
        "parentRef.name": "DNS-1123 subdomain",
        "runtime.image": "no whitespace",
        "runtime.env.name": "C identifier",
        "runtime.serviceAccountName": "DNS-1123 subdomain",
        "runtime.imagePullSecrets.name": "DNS-1123 subdomain",
        "runtime.nodeSelector": "label",
        "runtime.tolerations.key": "label key",
        "runtime.resources.requests": "Values are quantities",
        "runtime.readinessProbe.httpGet.path": "no whitespace",
    }
    # The API server publishes a new CRD's OpenAPI a moment after it is Established.
    wait_for(
        lambda: kubectl("explain", "hopperinstance.spec", check=False).returncode == 0,
        timeout=30,
        what="the CRD's OpenAPI to be published",
    )
    for field, words in expected.items():
        text = kubectl("explain", f"hopperinstance.spec.{field}").stdout
        description = " ".join(text.split("DESCRIPTION:")[1].split())
        assert words in description, f"{field}: {description}"
