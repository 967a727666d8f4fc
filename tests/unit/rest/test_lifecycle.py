"""The REST face's translation of the verbs (what they mean: tests/unit/test_verbs.py):
the original's status codes and words, a PUT's status, and the soft delete's refusals."""

from __future__ import annotations

import pytest

from hopper_operator.api.enums import Phase
from hopper_operator.core.verbs import Judgement, Verb, judge
from hopper_operator.rest.errors import ApiError
from hopper_operator.rest.lifecycle import (
    CODES,
    delete_refusal,
    put_verb,
    refuse_unless_allowed,
)

P = Phase


def obj(phase: Phase) -> dict[str, object]:
    return {"metadata": {"name": "a"}, "status": {"phase": phase.value}}


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("phase", list(Phase))
def test_a_refusal_is_a_400_or_a_409_in_the_originals_words(verb: Verb, phase: Phase) -> None:
    judgement = judge(verb, phase)
    if judgement is Judgement.PROCEED:
        refuse_unless_allowed(verb, obj(phase))
        return
    with pytest.raises(ApiError) as refused:
        refuse_unless_allowed(verb, obj(phase))
    assert refused.value.status == CODES[judgement]
    status = phase.value.lower()
    assert refused.value.detail == (
        f"Instance a is already in {status} state"
        if refused.value.status == 409
        else f"Cannot {verb.value} instance in {status} state"
    )


@pytest.mark.parametrize(
    ("target", "phase", "verb"),
    [
        (None, P.RUNNING, None),
        (P.RUNNING, P.PAUSED, Verb.RESUME),
        (P.RUNNING, P.STOPPED, Verb.START),
        (P.STOPPED, P.RUNNING, Verb.STOP),
    ],
)
def test_a_put_status_is_the_verb_to_it(
    target: Phase | None, phase: Phase, verb: Verb | None
) -> None:
    assert put_verb(target, obj(phase)) is verb


def test_a_put_of_a_status_no_request_can_ask_for_is_a_400() -> None:
    with pytest.raises(ApiError) as refused:
        put_verb(P.STARTING, obj(P.CREATED))
    assert (refused.value.status, refused.value.detail) == (
        400,
        "Invalid status transition from created to starting",
    )


@pytest.mark.parametrize("phase", list(Phase))
def test_delete_refuses_children_first_then_anything_not_stopped(phase: Phase) -> None:
    assert delete_refusal(obj(phase), 2) == (
        422,
        "Cannot delete instance with 2 child instances. Delete children first.",
    )
    alive = phase in (P.STARTING, P.RUNNING, P.PAUSED, P.STOPPING)
    expected = (400, "Cannot delete running instance. Stop it first.") if alive else None
    assert delete_refusal(obj(phase), 0) == expected
