"""Views keep spec and status as compact JSON: what they pull out always agrees with what
they parse back, and nothing read through them differs from parsing the body directly."""

from __future__ import annotations

from typing import Any

import pytest

from hopper_operator.api.enums import ConditionType, Phase
from hopper_operator.api.models import HopperInstanceSpec, HopperInstanceStatus
from hopper_operator.core.views import instance_view
from tests.unit.builders import body


def stalled(message: str = "parent x is a PROJECT") -> dict[str, Any]:
    return {
        "type": "Stalled",
        "status": "True",
        "reason": "ParentScopeInvalid",
        "message": message,
        "lastTransitionTime": "2026-11-26T11:00:00Z",
    }


BODIES = {
    "a new root": body("g"),
    "a running child with config": body(
        "p", "PROJECT", parent="g", phase="Running", ready=True, config={"team": {"a": 1}}
    ),
    "a stalled child": {
        **body("o", "ORCHESTRATION", parent="p", phase="Created", ready=False),
        "status": {"phase": "Created", "conditions": [stalled()]},
    },
    "a status it cannot read": {**body("g"), "status": {"phase": "Sideways"}},
    "no status at all": {**body("g"), "status": None},
    "a spec it cannot read": body("g", state="Sideways"),
}


@pytest.mark.parametrize("raw", BODIES.values(), ids=BODIES.keys())
def test_what_a_view_pulls_out_agrees_with_what_it_parses_back(raw: dict[str, Any]) -> None:
    view = instance_view(raw)
    status = view.status
    ready, stall = status.condition(ConditionType.READY), status.condition(ConditionType.STALLED)
    assert view.phase == (status.phase or Phase.CREATED)
    assert view.ready == (ready.status if ready else None)
    assert view.stalled == (stall.reason if stall and stall.status == "True" else None)
    assert view.effective_config_hash == status.effective_config_hash
    spec = view.spec
    assert view.scope == (spec.scope if spec else None)
    assert view.parent_name == (spec.parent_name if spec else None)


@pytest.mark.parametrize("raw", BODIES.values(), ids=BODIES.keys())
def test_a_view_reads_as_the_body_parsed_directly(raw: dict[str, Any]) -> None:
    view = instance_view(raw)
    try:
        expected_spec: HopperInstanceSpec | None = HopperInstanceSpec.model_validate(raw["spec"])
    except ValueError:
        expected_spec = None
    try:
        expected_status = HopperInstanceStatus.model_validate(raw["status"] or {})
    except ValueError:
        expected_status = HopperInstanceStatus()  # unreadable: rewritten from scratch
    assert view.spec == expected_spec
    assert (view.spec_error is None) == (expected_spec is not None)
    assert view.status == expected_status


def test_a_view_changed_status_pulls_out_the_new_one() -> None:
    view = instance_view(body("g"))
    changed = view.with_status(
        HopperInstanceStatus.model_validate(
            {"phase": "Running", "conditions": [stalled("stuck")], "effectiveConfigHash": "h"}
        )
    )
    assert (changed.phase, changed.stalled, changed.effective_config_hash) == (
        Phase.RUNNING,
        "ParentScopeInvalid",
        "h",
    )
    assert changed.status.phase is Phase.RUNNING and changed.spec == view.spec
