"""Owned objects carry the hashes the reconciler compares against."""

from __future__ import annotations

import json

from hopper_operator.api.models import Runtime
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
