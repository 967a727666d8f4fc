"""The status merge patch: applying it to the old status gives exactly the new one."""

from __future__ import annotations

from typing import Any

import pytest

from hopper_operator.resources.patches import merge_patch


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
