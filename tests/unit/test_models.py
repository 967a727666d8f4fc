"""The API models: defaults, full parsing, readable rejections, and every sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hopper_operator.api.enums import DesiredState, InstanceType, Phase, Scope
from hopper_operator.api.models import HopperInstance, HopperInstanceSpec, HopperInstanceStatus

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"


def test_defaults() -> None:
    spec = HopperInstanceSpec.model_validate({"scope": "GLOBAL"})
    assert spec.state is DesiredState.RUNNING
    assert spec.instance_type is InstanceType.PERSISTENT
    assert spec.parent_ref is None and spec.runtime is None and spec.config == {}
    runtime = HopperInstanceSpec.model_validate(
        {"scope": "GLOBAL", "runtime": {"image": "x"}}
    ).runtime
    assert runtime is not None and runtime.replicas == 1 and runtime.env == []


def test_full_object_parses() -> None:
    obj = HopperInstance.model_validate(
        {
            "apiVersion": "hopper.dev/v1alpha1",
            "kind": "HopperInstance",
            "metadata": {"name": "w", "namespace": "team", "uid": "u"},
            "spec": {
                "scope": "ORCHESTRATION",
                "parentRef": {"name": "p"},
                "state": "Paused",
                "instanceType": "Temporary",
                "ttlSeconds": 60,
                "displayName": "W",
                "description": "d",
                "config": {"a": {"b": [1, 2]}},
                "runtime": {
                    "image": "img:1",
                    "replicas": 3,
                    "command": ["run"],
                    "args": ["--x"],
                    "env": [{"name": "A", "value": "1"}],
                    "resources": {"requests": {"cpu": "100m", "memory": 64}},
                },
            },
            "status": {
                "phase": "Running",
                "observedGeneration": 2,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "Reconciled",
                        "lastTransitionTime": "2026-11-26T10:00:00Z",
                    }
                ],
                "children": {"total": 2, "byPhase": {"Running": 2}},
                "someFutureField": 1,
            },
        }
    )
    assert obj.spec.scope is Scope.ORCHESTRATION and obj.spec.parent_name == "p"
    assert obj.spec.runtime and obj.spec.runtime.resources.requests == {
        "cpu": "100m",
        "memory": "64",
    }
    assert obj.status.phase is Phase.RUNNING
    ready = obj.status.condition("Ready")
    assert ready is not None and ready.status == "True"
    assert obj.status.children and obj.status.children.by_phase == {"Running": 2}


def _runtime(**fields: Any) -> dict[str, Any]:
    return {"scope": "GLOBAL", "runtime": {"image": "app:1", **fields}}


BAD_SPECS: list[tuple[dict[str, Any], str]] = [
    ({"scope": "GALAXY"}, "scope"),
    ({"scope": "PROJECT"}, "spec.parentRef is required"),
    ({"scope": "FEDERATED", "parentRef": {"name": "x"}}, "always a root"),
    ({"scope": "GLOBAL", "state": "Sleeping"}, "state"),
    ({"scope": "GLOBAL", "ttlSeconds": 5}, "only allowed with instanceType Temporary"),
    ({"scope": "GLOBAL", "instanceType": "Temporary", "ttlSeconds": 0}, "ttlSeconds"),
    ({"scope": "GLOBAL", "displayName": ""}, "displayName"),
    ({"scope": "GLOBAL", "displayName": "x" * 101}, "displayName"),
    ({"scope": "GLOBAL", "runtime": {"replicas": 1}}, "image"),
    ({"scope": "GLOBAL", "runtime": {"image": "i", "replicas": 101}}, "replicas"),
    ({"scope": "GLOBAL", "colour": "blue"}, "colour"),
    ({"scope": "PROJECT", "parentRef": {"name": "Acme"}}, "must be the name of a HopperInstance"),
    (_runtime(**{"image": "app :1"}), "must be a container image reference"),
    (_runtime(**{"env": [{"name": "1X"}]}), "must be an environment variable name"),
    (_runtime(**{"serviceAccountName": "Robot"}), "must be the name of a ServiceAccount"),
    (_runtime(**{"imagePullSecrets": [{"name": "a_b"}]}), "must be the name of a Secret"),
    (_runtime(**{"nodeSelector": {"a b": "c"}}), "key 'a b': must be a label key"),
    (_runtime(**{"nodeSelector": {"a": "-"}}), "must be a label value"),
    (_runtime(**{"tolerations": [{"value": "v"}]}), "a toleration without a key"),
    (_runtime(**{"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}), "remove its"),
    (
        _runtime(**{"tolerations": [{"key": "k", "tolerationSeconds": 1}]}),
        "only to effect NoExecute",
    ),
    (_runtime(**{"resources": {"requests": {"gpu": "1"}}}), "must be a resource name"),
    (_runtime(**{"resources": {"limits": {"cpu": "lots"}}}), "must be a quantity"),
    (
        _runtime(resources={"requests": {"memory": "1Gi"}, "limits": {"memory": "1G"}}),
        "a request cannot exceed the limit",
    ),
    (_runtime(**{"readinessProbe": {"initialDelaySeconds": 1}}), "exactly one of"),
    (_runtime(**{"livenessProbe": {"httpGet": {"path": "x", "port": 1}}}), "must be an HTTP path"),
    (_runtime(**{"runAsUser": -1}), "runAsUser"),
]


@pytest.mark.parametrize(("spec", "needle"), BAD_SPECS)
def test_bad_specs_are_rejected_readably(spec: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HopperInstanceSpec.model_validate(spec)
    assert needle in str(caught.value)


def test_status_round_trips_in_kubernetes_form() -> None:
    raw = {
        "phase": "Paused",
        "startedAt": "2026-11-26T10:00:00Z",
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Walking",
                "message": "m",
                "lastTransitionTime": "2026-11-26T10:00:01Z",
                "observedGeneration": 3,
            }
        ],
    }
    status = HopperInstanceStatus.model_validate(raw)
    assert status.model_dump(mode="json", by_alias=True, exclude_none=True) == raw


def sample_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        docs += [
            d
            for d in yaml.safe_load_all(path.read_text())
            if d and d.get("kind") == "HopperInstance"
        ]
    return docs


def test_samples_form_the_documented_tree() -> None:
    docs = sample_documents()
    objects = [HopperInstance.model_validate(d) for d in docs]
    scopes = [o.spec.scope for o in objects]
    assert scopes.count(Scope.GLOBAL) == 1
    assert scopes.count(Scope.PROJECT) == 2
    assert scopes.count(Scope.ORCHESTRATION) >= 2
    assert any(o.spec.runtime for o in objects)
    names = {o.metadata.name for o in objects}
    assert all(o.spec.parent_name in names for o in objects if o.spec.parent_name)
