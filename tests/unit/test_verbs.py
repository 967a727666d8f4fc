"""The lifecycle verbs, said once in core: every verb from every phase by the original's
table, what each asks for, and when it is done (the definition every face waits by)."""

from __future__ import annotations

import pytest

from hopper_operator.api.enums import Phase
from hopper_operator.api.wire import ConditionBody, InstanceBody
from hopper_operator.core.verbs import (
    MEANINGS,
    Judgement,
    Progress,
    Verb,
    done_phases,
    judge,
    progress,
    progress_of,
    refusal,
    request,
    stalled_message,
    summary,
    verb_towards,
)

P = Phase
# The original's table: from where each verb may go; "already there or on its way" is
# moot. The operator's own table has two more (stop from Starting and from Error) that no
# face offers: Hopper's clients were written against the original.
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
        Judgement.PROCEED
        if phase in ALLOWED[verb]
        else Judgement.ALREADY
        if phase in ALREADY[verb]
        else Judgement.NOT_ALLOWED
    )
    assert judge(verb, phase) is expected


def test_refusals_are_in_the_originals_words() -> None:
    assert refusal(Verb.START, "a", P.RUNNING) == "Instance a is already in running state"
    assert refusal(Verb.STOP, "a", P.STOPPING) == "Instance a is already in stopping state"
    assert refusal(Verb.PAUSE, "a", P.STOPPED) == "Cannot pause instance in stopped state"
    assert refusal(Verb.RESTART, "a", P.PAUSED) == "Cannot restart instance in paused state"


@pytest.mark.parametrize(
    ("verb", "patch"),
    [
        (Verb.START, {"spec": {"state": "Running"}}),
        (Verb.RESUME, {"spec": {"state": "Running"}}),
        (Verb.PAUSE, {"spec": {"state": "Paused"}}),
        (Verb.STOP, {"spec": {"state": "Stopped"}}),
        (Verb.TERMINATE, {"spec": {"state": "Terminated"}}),
        (Verb.RESTART, {"metadata": {"annotations": {"hopper.dev/restartedAt": "t"}}}),
    ],
)
def test_each_verb_asks_by_spec_state_or_by_a_restart_token(
    verb: Verb, patch: dict[str, object]
) -> None:
    assert request(verb, "t") == patch


def test_where_each_verb_heads() -> None:
    assert {verb: meaning.heads for verb, meaning in MEANINGS.items()} == {
        Verb.START: P.RUNNING,
        Verb.RESUME: P.RUNNING,
        Verb.RESTART: P.RUNNING,
        Verb.PAUSE: P.PAUSED,
        Verb.STOP: P.STOPPED,
        Verb.TERMINATE: P.TERMINATED,
    }


@pytest.mark.parametrize(
    ("target", "phase", "verb"),
    [
        (P.RUNNING, P.PAUSED, Verb.RESUME),
        (P.RUNNING, P.STOPPED, Verb.START),
        (P.RUNNING, P.CREATED, Verb.START),
        (P.PAUSED, P.RUNNING, Verb.PAUSE),
        (P.STOPPED, P.RUNNING, Verb.STOP),
        (P.TERMINATED, P.STOPPED, Verb.TERMINATE),
        (P.STARTING, P.CREATED, None),
        (P.STOPPING, P.RUNNING, None),
        (P.ERROR, P.RUNNING, None),
        (P.CREATED, P.STOPPED, None),
    ],
)
def test_the_verb_towards_a_phase(target: Phase, phase: Phase, verb: Verb | None) -> None:
    assert verb_towards(target, phase) is verb


def body(
    phase: str | None = "Running",
    *,
    ready: str | None = "True",
    stalled: bool = False,
    generation: int = 2,
    observed: int | None = 2,
    last_restart: str | None = None,
) -> InstanceBody:
    conditions: list[ConditionBody] = []
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": "Reconciled"})
    if stalled:
        message = "a PROJECT cannot be a child of an ORCHESTRATION"
        conditions.append(
            {
                "type": "Stalled",
                "status": "True",
                "reason": "ParentScopeInvalid",
                "message": message,
            }
        )
    obj: InstanceBody = {"metadata": {"name": "a", "generation": generation}}
    if phase is not None:
        obj["status"] = {"phase": phase, "conditions": conditions}
        if observed is not None:
            obj["status"]["observedGeneration"] = observed
        if last_restart is not None:
            obj["status"]["lastRestart"] = last_restart
    return obj


DONE, UNDERWAY, STALLED = Progress.DONE, Progress.UNDERWAY, Progress.STALLED


@pytest.mark.parametrize(
    ("verb", "obj", "expected"),
    [
        (Verb.START, body("Running"), DONE),
        (Verb.START, body("Starting", ready="False"), UNDERWAY),
        (Verb.START, body("Running", ready="False"), UNDERWAY),  # e.g. the parent not Ready
        (Verb.START, body("Running", observed=1), UNDERWAY),  # an older spec's status
        (Verb.START, body("Running", observed=None), UNDERWAY),
        (Verb.START, body(None), UNDERWAY),  # the operator has not seen it yet
        (Verb.START, body("Stopped"), UNDERWAY),  # Ready, but as a child capped by its parent
        (Verb.STOP, body("Stopped"), DONE),
        (Verb.STOP, body("Created"), DONE),  # never started: already stopped
        (Verb.PAUSE, body("Created"), DONE),
        (Verb.PAUSE, body("Paused"), DONE),
        (Verb.PAUSE, body("Stopped"), UNDERWAY),
        (Verb.TERMINATE, body("Terminated"), DONE),
        # Stalled ends the wait at once, whatever the verb: it will not get there alone.
        (Verb.START, body("Created", ready="False", stalled=True), STALLED),
        (Verb.STOP, body("Error", ready="False", stalled=True), STALLED),
        (Verb.RESTART, body("Running", ready="False", stalled=True), STALLED),
        # ...but only once the operator has seen the latest spec: a stall of an older one
        # may be cured by the change just asked for.
        (Verb.START, body("Created", ready="False", stalled=True, observed=1), UNDERWAY),
        # A restart is done once status records its very token, whatever the clocks say.
        (Verb.RESTART, body("Running"), UNDERWAY),
        (Verb.RESTART, body("Running", last_restart="older"), UNDERWAY),
        (Verb.RESTART, body("Running", last_restart="t"), DONE),
        (Verb.RESTART, body("Starting", ready="False", last_restart="t"), UNDERWAY),
    ],
)
def test_when_a_verb_is_done(verb: Verb, obj: InstanceBody, expected: Progress) -> None:
    assert progress_of(verb, obj, "t") is expected


def test_waiting_for_any_phase_or_a_given_one() -> None:
    assert progress(body("Paused")) is DONE
    assert progress(body("Paused"), phases={P.RUNNING}) is UNDERWAY
    assert progress(body("Paused", ready="False")) is UNDERWAY
    assert progress(body("Paused", stalled=True, ready="False")) is STALLED


def test_done_phases_are_those_that_satisfy_the_verbs_state() -> None:
    assert done_phases(Verb.START) == {P.RUNNING}
    assert done_phases(Verb.RESTART) == {P.RUNNING}
    assert done_phases(Verb.STOP) == {P.STOPPED, P.CREATED}
    assert done_phases(Verb.TERMINATE) == {P.TERMINATED}


def test_the_stalled_message_is_the_conditions() -> None:
    stalled = body("Created", ready="False", stalled=True)
    assert stalled_message(stalled) == "a PROJECT cannot be a child of an ORCHESTRATION"


def test_each_verb_says_what_it_asks_for_in_a_line() -> None:
    assert summary(Verb.PAUSE) == "set spec.state to Paused"
    assert "restart token" in summary(Verb.RESTART)
