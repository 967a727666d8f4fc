"""The API server itself enforces every rule that needs only the object (schema and CEL)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import SAMPLES, apply, get_json, manifest

pytestmark = pytest.mark.usefixtures("crd")


def bad(name: str = "bad", **spec: Any) -> dict[str, Any]:
    return manifest(name, **spec)


def with_runtime(**runtime: Any) -> dict[str, Any]:
    return bad(scope="GLOBAL", runtime=runtime)


LONG = "x" * 64

# (case, manifest, the message the API server must give)
INVALID_CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown scope", bad(scope="GALAXY"), 'Unsupported value: "GALAXY"'),
    ("no scope", bad(state="Running"), "spec.scope: Required value"),
    ("no spec", {**bad(), "spec": None}, "spec: Required value"),
    (
        "federated with parent",
        bad(scope="FEDERATED", parentRef={"name": "p"}),
        "a FEDERATED instance is always a root",
    ),
    (
        "project without parent",
        bad(scope="PROJECT"),
        "spec.parentRef is required for every scope below GLOBAL",
    ),
    ("unknown state", bad(scope="GLOBAL", state="Sleeping"), 'Unsupported value: "Sleeping"'),
    (
        "unknown instance type",
        bad(scope="GLOBAL", instanceType="Forever"),
        'Unsupported value: "Forever"',
    ),
    (
        "ttl without temporary",
        bad(scope="GLOBAL", ttlSeconds=60),
        "spec.ttlSeconds is only allowed with instanceType Temporary",
    ),
    (
        "ttl zero",
        bad(scope="GLOBAL", instanceType="Temporary", ttlSeconds=0),
        "spec.ttlSeconds: Invalid value: 0: spec.ttlSeconds in body should be greater than or equal to 1",
    ),
    (
        "ttl not a number",
        bad(scope="GLOBAL", instanceType="Temporary", ttlSeconds="soon"),
        'spec.ttlSeconds: Invalid value: "string": spec.ttlSeconds in body must be of type integer',
    ),
    (
        "empty display name",
        bad(scope="GLOBAL", displayName=""),
        "spec.displayName in body should be at least 1 chars long",
    ),
    (
        "long display name",
        bad(scope="GLOBAL", displayName="d" * 101),
        "spec.displayName: Too long: may not be more than 100",
    ),
    (
        "long description",
        bad(scope="GLOBAL", description="d" * 1001),
        "spec.description: Too long: may not be more than 1000",
    ),
    ("runtime without image", with_runtime(replicas=1), "spec.runtime.image: Required value"),
    (
        "runtime with empty image",
        with_runtime(image=""),
        "spec.runtime.image in body should be at least 1 chars long",
    ),
    (
        "too many replicas",
        with_runtime(image="i", replicas=101),
        "spec.runtime.replicas in body should be less than or equal to 100",
    ),
    (
        "negative replicas",
        with_runtime(image="i", replicas=-1),
        "spec.runtime.replicas in body should be greater than or equal to 0",
    ),
    (
        "replicas not a number",
        with_runtime(image="i", replicas="two"),
        "spec.runtime.replicas in body must be of type integer",
    ),
    (
        "command not a list",
        with_runtime(image="i", command="run"),
        "spec.runtime.command in body must be of type array",
    ),
    (
        "env without name",
        with_runtime(image="i", env=[{"value": "1"}]),
        "spec.runtime.env[0].name: Required value",
    ),
    (
        "name overflows a label",
        {**bad(scope="GLOBAL"), "metadata": {"name": LONG}},
        "metadata.name must be at most 63 characters",
    ),
    (
        "own parent",
        bad("selfish", scope="PROJECT", parentRef={"name": "selfish"}),
        "an instance cannot be its own parent",
    ),
    (
        "parent without name",
        bad(scope="PROJECT", parentRef={}),
        "spec.parentRef.name: Required value",
    ),
    (
        "parent name too long",
        bad(scope="PROJECT", parentRef={"name": LONG}),
        "spec.parentRef.name: Too long: may not be more than 63",
    ),
    (
        "config too wide",
        bad(scope="GLOBAL", config={f"k{i}": i for i in range(129)}),
        "spec.config: Too many: 129: must have at most 128 items",
    ),
    (
        "config not an object",
        bad(scope="GLOBAL", config=["a"]),
        'spec.config: Invalid value: "array": spec.config in body must be of type object',
    ),
]


def assert_absent(kubectl: Kubectl, namespace: str, name: str) -> None:
    result = kubectl("get", "hopperinstance", name, "-n", namespace, check=False)
    assert result.returncode != 0 and "NotFound" in result.stderr, result.stdout


def test_every_create_rule_has_its_own_message(kubectl: Kubectl, namespace: str) -> None:
    messages = [message for _, _, message in INVALID_CREATES]
    assert len(set(messages)) == len(messages), "each rule must be told apart by its message"
    failures = []
    for case, obj, message in INVALID_CREATES:
        result = apply(kubectl, namespace, obj, check=False)
        if result.returncode == 0 or message not in result.stderr:
            failures.append(f"{case}: exit {result.returncode}, stderr: {result.stderr.strip()}")
        name = obj["metadata"]["name"]
        if len(name) <= 63:
            assert_absent(kubectl, namespace, name)
    assert not failures, "\n".join(failures)
    assert kubectl("get", "hopperinstances", "-n", namespace, "-o", "name").stdout == ""


# (case, the object first stored, the change, the message)
INVALID_UPDATES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "scope is immutable",
        bad("u1", scope="GLOBAL"),
        {"scope": "FEDERATED"},
        "spec.scope is immutable",
    ),
    (
        "parent is immutable",
        bad("u2", scope="PROJECT", parentRef={"name": "a"}),
        {"parentRef": {"name": "b"}},
        "spec.parentRef.name is immutable",
    ),
    (
        "parent cannot be added",
        bad("u3", scope="GLOBAL"),
        {"parentRef": {"name": "fed"}},
        "spec.parentRef cannot be added or removed after creation",
    ),
    (
        "terminated is final",
        bad("u4", scope="GLOBAL", state="Terminated"),
        {"state": "Running"},
        "Terminated is final: spec.state cannot leave Terminated",
    ),
]


def test_every_update_rule_has_its_own_message(kubectl: Kubectl, namespace: str) -> None:
    failures = []
    for case, original, change, message in INVALID_UPDATES:
        stored = apply(kubectl, namespace, original, check=False)
        assert stored.returncode == 0, stored.stderr
        changed = copy.deepcopy(original)
        changed["spec"].update(change)
        result = apply(kubectl, namespace, changed, check=False)
        if result.returncode == 0 or message not in result.stderr:
            failures.append(f"{case}: exit {result.returncode}, stderr: {result.stderr.strip()}")
        live = get_json(kubectl, "hopperinstance", original["metadata"]["name"], "-n", namespace)
        for key in change:
            assert live["spec"].get(key) == original["spec"].get(key), f"{case}: change stored"
    assert not failures, "\n".join(failures)
    assert len(INVALID_CREATES) + len(INVALID_UPDATES) >= 25


def test_samples_apply_and_print_columns(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-k", str(SAMPLES))
    table = kubectl("get", "hopper", "-n", namespace).stdout
    header = table.splitlines()[0].split()
    assert header == ["NAME", "SCOPE", "PARENT", "DESIRED", "PHASE", "READY", "AGE"]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert rows["acme"][1:3] == ["GLOBAL", "Running"]  # a root has no PARENT value
    assert rows["acme-web-release"][1:4] == ["ORCHESTRATION", "acme-web", "Running"]
    names = kubectl("get", "hi", "-n", namespace, "-o", "name").stdout.split()
    assert len(names) == 6


def test_explain_describes_every_spec_field(kubectl: Kubectl) -> None:
    text = kubectl("explain", "hopperinstance.spec", "--recursive=false").stdout
    for field in (
        "scope",
        "parentRef",
        "state",
        "instanceType",
        "ttlSeconds",
        "displayName",
        "description",
        "config",
        "runtime",
    ):
        assert field in text
    for field in ("scope", "parentRef", "runtime", "runtime.replicas", "runtime.env"):
        detail = kubectl("explain", f"hopperinstance.spec.{field}").stdout
        assert "DESCRIPTION:" in detail
        description = detail.split("DESCRIPTION:")[1].split("FIELDS:")[0].strip()
        assert description and "<empty>" not in description, f"{field}: {detail}"
