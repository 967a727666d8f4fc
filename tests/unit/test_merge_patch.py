"""The merge patches: applying one to the old object gives exactly the new one; the JSON
Patch said for the mutating webhook does exactly what its merge patch does."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hopper_operator.resources.patches import json_patch, merge_patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386's reference algorithm, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_json_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902's add and remove, as the API server applies them (the ops `json_patch` uses)."""
    document = copy.deepcopy(target)
    for operation in operations:
        *parents, last = (
            part.replace("~1", "/").replace("~0", "~") for part in operation["path"][1:].split("/")
        )
        where = document
        for part in parents:
            where = where[part]  # a missing parent is an error, as in the API server
        if operation["op"] == "add":
            where[last] = operation["value"]
        elif operation["op"] == "remove":
            del where[last]  # removing what is not there is an error too
        else:
            raise AssertionError(operation)
    return document


CASES = [
    ({}, {}),
    ({"a": 1}, {"a": 1}),
    ({"a": 1}, {"a": 2}),
    ({"a": 1}, {}),
    ({}, {"a": {"b": 1}}),
    ({"children": {"byPhase": {"Created": 2}}}, {"children": {"byPhase": {"Running": 2}}}),
    ({"conditions": [{"type": "Ready"}]}, {"conditions": []}),
    ({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"c": 1}}}),
    ({"a": {"b": 1}}, {"a": 3}),
    ({"a": 3}, {"a": {"b": 1}}),
]


@pytest.mark.parametrize(("before", "after"), CASES)
def test_patch_turns_before_into_after(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert apply_merge_patch(before, merge_patch(before, after)) == after


def test_unchanged_is_empty() -> None:
    assert merge_patch({"a": {"b": [1]}}, {"a": {"b": [1]}}) == {}


JSON_PATCH_CASES = {
    "labels added where there are none": ({"name": "a"}, {"labels": {"hopper.dev/root": "g"}}),
    "labels added beside others": (
        {"labels": {"app": "x", "hopper.dev/root": "old"}},
        {"labels": {"hopper.dev/root": "g", "hopper.dev/parent": "p"}},
    ),
    "a label removed, one absent left alone": (
        {"labels": {"app": "x", "gone": "y"}},
        {"labels": {"gone": None, "never": None}},
    ),
    "lists replaced whole": (
        {"finalizers": ["other"], "ownerReferences": [{"name": "old"}]},
        {"finalizers": ["other", "hopper.dev/finalizer"], "ownerReferences": [{"name": "p"}]},
    ),
    "a new object loses its nulls": ({}, {"annotations": {"a": "1", "b": None}}),
    "keys with ~ and /": ({"labels": {"a~b/c": "1"}}, {"labels": {"a~b/c": "2", "d/e~": "3"}}),
    "a member removed": ({"finalizers": ["x"]}, {"finalizers": None}),
    "nothing to do": ({"labels": {"a": "1"}}, {}),
}


@pytest.mark.parametrize(
    ("target", "patch"), JSON_PATCH_CASES.values(), ids=JSON_PATCH_CASES.keys()
)
def test_the_json_patch_does_what_the_merge_patch_does(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    document = {"metadata": target}
    operations = json_patch(target, patch, "/metadata")
    assert apply_json_patch(document, operations) == {"metadata": apply_merge_patch(target, patch)}


def test_the_json_patch_of_a_no_op_is_empty() -> None:
    assert json_patch({"labels": {"a": "1"}}, {"labels": {"gone": None}}) == []
