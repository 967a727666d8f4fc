"""What each lifecycle verb of the original API may do, judged by the original's transition
table as the core keeps it (never a copy), and when the operator has carried it out. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from hopper_operator.api.enums import DesiredState, Phase
from hopper_operator.api.meta import Annotation
from hopper_operator.core import lifecycle
from hopper_operator.rest.mapping import Object, phase_of
from hopper_operator.rest.schemas import Status


class Verb(StrEnum):
    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    RESTART = "restart"
    TERMINATE = "terminate"


@dataclass(frozen=True)
class Course:
    desired: DesiredState  # what spec.state becomes
    step: Phase  # the first phase of the walk: legal from the observed phase, or 400
    rest: Phase  # where the walk comes to rest: the request waits for it


COURSES: dict[Verb, Course] = {
    Verb.START: Course(DesiredState.RUNNING, Phase.STARTING, Phase.RUNNING),
    Verb.STOP: Course(DesiredState.STOPPED, Phase.STOPPING, Phase.STOPPED),
    Verb.PAUSE: Course(DesiredState.PAUSED, Phase.PAUSED, Phase.PAUSED),
    Verb.RESUME: Course(DesiredState.RUNNING, Phase.RUNNING, Phase.RUNNING),
    Verb.TERMINATE: Course(DesiredState.TERMINATED, Phase.TERMINATED, Phase.TERMINATED),
    # Restart leaves spec.state alone: a new restart token walks Running down and up again.
    Verb.RESTART: Course(DesiredState.RUNNING, Phase.STOPPING, Phase.RUNNING),
}

# Where the two phases in motion are headed: a verb whose rest they head for is already
# on its way (start while starting answers 409, as the original).
HEADING = {Phase.STARTING: Phase.RUNNING, Phase.STOPPING: Phase.STOPPED}


# The table Hopper's clients were written against: the operator walks two more transitions
# (a stop during Starting or from Error), which this face does not offer.
ORIGINAL = lifecycle.ORIGINAL_TRANSITIONS


class Answer(IntEnum):
    PROCEED = 200
    NOT_ALLOWED = 400
    ALREADY = 409


def judge(verb: Verb, phase: Phase) -> Answer:
    course = COURSES[verb]
    if verb is Verb.RESTART:
        # Only a Running instance restarts through this API: the original's table.
        running = lifecycle.satisfies(phase, DesiredState.RUNNING)
        legal = running and lifecycle.is_legal(phase, course.step, ORIGINAL)
        return Answer.PROCEED if legal else Answer.NOT_ALLOWED
    if course.rest in (phase, HEADING.get(phase)):
        return Answer.ALREADY
    legal = lifecycle.is_legal(phase, course.step, ORIGINAL)
    return Answer.PROCEED if legal else Answer.NOT_ALLOWED


def refusal(verb: Verb, name: str, phase: Phase) -> str:
    """The original's messages for 400 and 409."""
    status = Status.of(phase).value
    if judge(verb, phase) is Answer.ALREADY:
        return f"Instance {name} is already in {status} state"
    return f"Cannot {verb.value} instance in {status} state"


def verb_for(target: Status, phase: Phase) -> Verb | None:
    """The verb a PUT of `status` means, or None when no request can ask for that status
    (the phases in motion and error are the operator's to enter)."""
    if target is Status.RUNNING:
        return Verb.RESUME if phase is Phase.PAUSED else Verb.START
    return {
        Status.PAUSED: Verb.PAUSE,
        Status.STOPPED: Verb.STOP,
        Status.TERMINATED: Verb.TERMINATE,
    }.get(target)


def intent(verb: Verb, token: str) -> dict[str, Any]:
    """The merge patch that asks for `verb`; `token`, a fresh restart token."""
    if verb is Verb.RESTART:
        return {"metadata": {"annotations": {Annotation.RESTARTED_AT.value: token}}}
    return {"spec": {"state": COURSES[verb].desired.value}}


def arrived(verb: Verb, obj: Object, token: str) -> bool:
    """Whether the operator has carried `verb` out on `obj`."""
    phase = phase_of(obj)
    if verb is Verb.RESTART:
        status = obj.get("status") or {}
        return phase is Phase.RUNNING and status.get("lastRestart") == token
    return phase is COURSES[verb].rest


# The original refuses to delete anything not at rest: stop it first.
ALIVE = frozenset({Phase.STARTING, Phase.RUNNING, Phase.PAUSED, Phase.STOPPING})


def delete_refusal(obj: Object, children: int) -> tuple[int, str] | None:
    """Why the original's soft delete refuses, as (status code, detail), or None."""
    if children:
        return (
            422,
            f"Cannot delete instance with {children} child instances. Delete children first.",
        )
    if phase_of(obj) in ALIVE:
        return 400, "Cannot delete running instance. Stop it first."
    return None
