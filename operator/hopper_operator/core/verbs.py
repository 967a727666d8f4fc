"""The lifecycle verbs (start, stop, pause, resume, restart, terminate), said once.

For every verb: what it asks for (the `spec.state` it sets, or for restart a new restart
token), where it heads, which phases are already on the way there, whether the original
Hopper API allowed it from a phase (and its words when it did not), and when it is done.
The REST face, `kubectl hopper` and every later face take all of it from here and only
translate: a status code, an exit code, a tool result.

Pure, and standard library only: it reads the instance as it travels (`api.wire`), so the
kubectl plugin's single-file archive carries it too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from hopper_operator.api.enums import ConditionType, DesiredState, Phase
from hopper_operator.api.meta import Annotation
from hopper_operator.api.wire import InstanceBody, condition, phase_of
from hopper_operator.core import lifecycle


class Verb(StrEnum):
    """A lifecycle request, as users name it."""

    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    RESTART = "restart"
    TERMINATE = "terminate"


@dataclass(frozen=True)
class Meaning:
    """What one verb asks for, and how it goes."""

    state: DesiredState  # what the instance must satisfy once done (spec.state it sets)
    first: Phase  # the walk's first phase: the original table must allow it from here
    underway: frozenset[Phase] = frozenset()  # already heading there: asking again is moot
    restarts: bool = False  # asked by a new restart token; spec.state is left as it is

    @property
    def heads(self) -> Phase:
        """Where the walk comes to rest."""
        return Phase(self.state.value)


MEANINGS: Mapping[Verb, Meaning] = {
    Verb.START: Meaning(DesiredState.RUNNING, Phase.STARTING, frozenset({Phase.STARTING})),
    Verb.STOP: Meaning(DesiredState.STOPPED, Phase.STOPPING, frozenset({Phase.STOPPING})),
    Verb.PAUSE: Meaning(DesiredState.PAUSED, Phase.PAUSED),
    Verb.RESUME: Meaning(DesiredState.RUNNING, Phase.RUNNING, frozenset({Phase.STARTING})),
    Verb.TERMINATE: Meaning(DesiredState.TERMINATED, Phase.TERMINATED),
    # A restart walks Running down through Stopped and up again: it ends where it began.
    Verb.RESTART: Meaning(DesiredState.RUNNING, Phase.STOPPING, restarts=True),
}


def request(verb: Verb, token: str) -> dict[str, object]:
    """The merge patch that asks for `verb`; `token`, a fresh restart token
    (`api.meta.restart_token`), is only written by a restart."""
    meaning = MEANINGS[verb]
    if meaning.restarts:
        return {"metadata": {"annotations": {Annotation.RESTARTED_AT.value: token}}}
    return {"spec": {"state": meaning.state.value}}


def summary(verb: Verb) -> str:
    """What `verb` asks for, in one line (help texts, tool descriptions)."""
    meaning = MEANINGS[verb]
    if meaning.restarts:
        return "walk a Running instance through Stopped and back (a fresh restart token)"
    return f"set spec.state to {meaning.state.value}"


# --- Whether the original API allowed it ---------------------------------------------


class Judgement(StrEnum):
    PROCEED = "proceed"
    NOT_ALLOWED = "not allowed"  # the original's table has no such transition
    ALREADY = "already"  # there, or on its way there: nothing to ask


# The table Hopper's clients were written against: the operator walks two more transitions
# (a stop during Starting or from Error), which the faces do not offer.
ORIGINAL = lifecycle.ORIGINAL_TRANSITIONS


def judge(verb: Verb, phase: Phase) -> Judgement:
    """Whether `verb` may be asked of an instance in `phase`, by the original's table."""
    meaning = MEANINGS[verb]
    if meaning.restarts:
        # Every restart is a new one; only a Running instance restarts (the original's).
        legal = phase is meaning.heads and lifecycle.is_legal(phase, meaning.first, ORIGINAL)
        return Judgement.PROCEED if legal else Judgement.NOT_ALLOWED
    if phase is meaning.heads or phase in meaning.underway:
        return Judgement.ALREADY
    legal = lifecycle.is_legal(phase, meaning.first, ORIGINAL)
    return Judgement.PROCEED if legal else Judgement.NOT_ALLOWED


def refusal(verb: Verb, name: str, phase: Phase) -> str:
    """Why `verb` is refused, in the original's words (which spell a phase in lower case)."""
    status = phase.value.lower()
    if judge(verb, phase) is Judgement.ALREADY:
        return f"Instance {name} is already in {status} state"
    return f"Cannot {verb.value} instance in {status} state"


def verb_towards(target: Phase, phase: Phase) -> Verb | None:
    """The verb that takes an instance in `phase` to `target`, or None when no request can
    ask for it (the phases in motion, Error and Created are the operator's to enter)."""
    if target is Phase.RUNNING:
        return Verb.RESUME if phase is Phase.PAUSED else Verb.START
    return {
        Phase.PAUSED: Verb.PAUSE,
        Phase.STOPPED: Verb.STOP,
        Phase.TERMINATED: Verb.TERMINATE,
    }.get(target)


# The original refuses to delete an instance on its way up or at work: stop it first.
STOP_BEFORE_DELETE = frozenset({Phase.STARTING, Phase.RUNNING, Phase.PAUSED, Phase.STOPPING})


# --- When it is done ---------------------------------------------------------------------


class Progress(StrEnum):
    UNDERWAY = "underway"  # keep waiting
    DONE = "done"
    STALLED = "stalled"  # it will not get there by itself: stop waiting, say why


def progress(
    body: InstanceBody, *, phases: Collection[Phase] | None = None, restart: str | None = None
) -> Progress:
    """Where an instance stands, the one definition of "done" every face waits by.

    Nothing counts before the operator has seen the latest spec (`status.observedGeneration`
    is `metadata.generation`). Then Stalled=True ends the wait at once (`stalled_message`
    says why); DONE is Ready=True in one of `phases` (any phase if None), and for a restart
    with status recording `restart`, its token, as carried out.
    """
    status = body.get("status") or {}
    if status.get("observedGeneration") != (body.get("metadata") or {}).get("generation"):
        return Progress.UNDERWAY
    if condition(body, ConditionType.STALLED).get("status") == "True":
        return Progress.STALLED
    if restart is not None and status.get("lastRestart") != restart:
        return Progress.UNDERWAY
    ready = condition(body, ConditionType.READY).get("status") == "True"
    if ready and (phases is None or phase_of(body) in phases):
        return Progress.DONE
    return Progress.UNDERWAY


def done_phases(verb: Verb) -> frozenset[Phase]:
    """Where `verb` is done: its state satisfied (a never-started instance, Created, already
    satisfies Paused and Stopped)."""
    state = MEANINGS[verb].state
    return frozenset(phase for phase in Phase if lifecycle.satisfies(phase, state))


def progress_of(verb: Verb, body: InstanceBody, token: str) -> Progress:
    """How far `verb`, asked with `token` (see `request`), has got on `body`."""
    restart = token if MEANINGS[verb].restarts else None
    return progress(body, phases=done_phases(verb), restart=restart)


def stalled_message(body: InstanceBody) -> str:
    """Why the instance is stalled: the Stalled condition's message, as every face says it."""
    stalled = condition(body, ConditionType.STALLED)
    return stalled.get("message") or stalled.get("reason") or "stalled"
