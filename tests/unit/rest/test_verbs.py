"""Every verb from every phase: the original's table, judged through the core's."""

from __future__ import annotations

import pytest

from hopper_operator.api.enums import Phase
from hopper_operator.rest.schemas import Status
from hopper_operator.rest.verbs import (
    Answer,
    Verb,
    arrived,
    delete_refusal,
    intent,
    judge,
    refusal,
    verb_for,
)

P = Phase
# The original's table (the issue): from where each verb may go; "already there or on its
# way" answers 409. The operator's own table has two more (stop from Starting and from
# Error) that this face does not offer: its clients were written against the original.
ALLOWED = {
    Verb.START: {P.CREATED, P.STOPPED, P.ERROR},
    Verb.STOP: {P.RUNNING, P.PAUSED},
    Verb.PAUSE: {P.RUNNING},
    Verb.RESUME: {P.PAUSED},
    Verb.TERMINATE: {P.CREATED, P.STOPPED, P.ERROR},
    Verb.RESTART: {P.RUNNING},
}
ALREADY = {
    Verb.START: {P.STARTING, P.RUNNING},
    Verb.STOP: {P.STOPPING, P.STOPPED},
    Verb.PAUSE: {P.PAUSED},
    Verb.RESUME: {P.RUNNING, P.STARTING},
    Verb.TERMINATE: {P.TERMINATED},
    Verb.RESTART: set(),
}


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("phase", list(Phase))
def test_every_verb_from_every_phase(verb: Verb, phase: Phase) -> None:
    expected = (
        Answer.PROCEED
        if phase in ALLOWED[verb]
        else Answer.ALREADY
        if phase in ALREADY[verb]
        else Answer.NOT_ALLOWED
    )
    assert judge(verb, phase) is expected


def test_messages_are_the_originals() -> None:
    assert refusal(Verb.START, "a", P.RUNNING) == "Instance a is already in running state"
    assert refusal(Verb.PAUSE, "a", P.STOPPED) == "Cannot pause instance in stopped state"


@pytest.mark.parametrize(
    ("target", "phase", "verb"),
    [
        (Status.RUNNING, P.PAUSED, Verb.RESUME),
        (Status.RUNNING, P.STOPPED, Verb.START),
        (Status.PAUSED, P.RUNNING, Verb.PAUSE),
        (Status.STOPPED, P.RUNNING, Verb.STOP),
        (Status.TERMINATED, P.STOPPED, Verb.TERMINATE),
        (Status.STARTING, P.CREATED, None),
        (Status.STOPPING, P.RUNNING, None),
        (Status.ERROR, P.RUNNING, None),
        (Status.CREATED, P.STOPPED, None),
    ],
)
def test_a_put_status_is_the_verb_to_it(target: Status, phase: Phase, verb: Verb | None) -> None:
    assert verb_for(target, phase) is verb


def test_intent_sets_the_state_or_the_restart_token() -> None:
    assert intent(Verb.PAUSE, "t") == {"spec": {"state": "Paused"}}
    assert intent(Verb.RESUME, "t") == {"spec": {"state": "Running"}}
    assert intent(Verb.STOP, "t") == {"spec": {"state": "Stopped"}}
    assert intent(Verb.TERMINATE, "t") == {"spec": {"state": "Terminated"}}
    assert intent(Verb.RESTART, "t") == {
        "metadata": {"annotations": {"hopper.dev/restartedAt": "t"}}
    }


def test_arrived_at_the_rest_or_the_restart_carried_out() -> None:
    def obj(phase: str, last: str | None = None) -> dict[str, object]:
        return {"status": {"phase": phase, "lastRestart": last}}

    assert arrived(Verb.START, obj("Running"), "t")
    assert not arrived(Verb.START, obj("Starting"), "t")
    assert arrived(Verb.STOP, obj("Stopped"), "t")
    assert not arrived(Verb.RESTART, obj("Running", "old"), "t")
    assert not arrived(Verb.RESTART, obj("Starting", "t"), "t")
    assert arrived(Verb.RESTART, obj("Running", "t"), "t")
    assert not arrived(Verb.START, {}, "t")  # no status yet: Created


@pytest.mark.parametrize("phase", list(Phase))
def test_delete_refuses_children_first_then_anything_alive(phase: Phase) -> None:
    obj = {"status": {"phase": phase.value}}
    assert delete_refusal(obj, 2) == (
        422,
        "Cannot delete instance with 2 child instances. Delete children first.",
    )
    alive = phase in (P.STARTING, P.RUNNING, P.PAUSED, P.STOPPING)
    expected = (400, "Cannot delete running instance. Stop it first.") if alive else None
    assert delete_refusal(obj, 0) == expected
