"""One Event per reconcile pass: its steps told in one, other Events as they came."""

from __future__ import annotations

from hopper_operator.api.enums import Phase
from hopper_operator.core.plan import Event, EventType, one_per_pass, step_event

STARTING = step_event((Phase.CREATED, Phase.STARTING), "towards Running", failed=False)
RUNNING = step_event((Phase.STARTING, Phase.RUNNING), "towards Running", failed=False)
STALLED = Event(EventType.WARNING, "ParentScopeInvalid", "the parent's scope ranks too low")


def test_a_walk_of_two_steps_is_one_event_with_the_last_reason() -> None:
    assert one_per_pass([STARTING, RUNNING]) == (
        Event(
            EventType.NORMAL,
            "Running",
            "Created -> Starting -> Running (towards Running)",
            (Phase.CREATED, Phase.STARTING, Phase.RUNNING),
            "towards Running",
        ),
    )


def test_one_step_and_no_step_pass_through_unchanged() -> None:
    assert one_per_pass([STARTING]) == (STARTING,)
    assert one_per_pass([STALLED]) == (STALLED,)
    assert one_per_pass([]) == ()


def test_a_failed_step_makes_the_pass_a_warning_with_its_failure() -> None:
    failed = step_event((Phase.STARTING, Phase.ERROR), "ReplicaFailure: quota", failed=True)
    (told,) = one_per_pass([STARTING, failed])
    assert told.type is EventType.WARNING and told.reason == "Error"
    assert told.message == "Created -> Starting -> Error (ReplicaFailure: quota)"


def test_other_events_follow_the_walk_once_each() -> None:
    told = one_per_pass([STARTING, STALLED, RUNNING, STALLED])
    assert [e.reason for e in told] == ["Running", "ParentScopeInvalid"]
