"""The lifecycle: legal transitions, shortest walks, and how a parent caps its children."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from functools import cache

from hopper_operator.api.enums import DesiredState, Phase

Transitions = dict[Phase, frozenset[Phase]]

# The original Hopper's table: what its Instance API let a client ask for, and so what the
# REST face answers by (its clients were written against it).
ORIGINAL_TRANSITIONS: Transitions = {
    Phase.CREATED: frozenset({Phase.STARTING, Phase.TERMINATED}),
    Phase.STARTING: frozenset({Phase.RUNNING, Phase.ERROR}),
    Phase.RUNNING: frozenset({Phase.STOPPING, Phase.PAUSED, Phase.ERROR}),
    Phase.PAUSED: frozenset({Phase.RUNNING, Phase.STOPPING}),
    Phase.STOPPING: frozenset({Phase.STOPPED, Phase.ERROR}),
    Phase.STOPPED: frozenset({Phase.STARTING, Phase.TERMINATED}),
    Phase.ERROR: frozenset({Phase.STARTING, Phase.TERMINATED}),
    Phase.TERMINATED: frozenset(),
}

# The operator's: the original's plus two, so that a stop is honoured at once rather than
# after a start finishes or fails.
TRANSITIONS: Transitions = {
    phase: targets | ({Phase.STOPPING} if phase in (Phase.STARTING, Phase.ERROR) else set())
    for phase, targets in ORIGINAL_TRANSITIONS.items()
}

# Desired states from most to least alive: a cap keeps whichever of two is lower.
_RANK = {
    DesiredState.RUNNING: 3,
    DesiredState.PAUSED: 2,
    DesiredState.STOPPED: 1,
    DesiredState.TERMINATED: 0,
}

# The phases that satisfy a desired state once reached.
_SATISFIES: dict[DesiredState, frozenset[Phase]] = {
    DesiredState.RUNNING: frozenset({Phase.RUNNING}),
    DesiredState.PAUSED: frozenset({Phase.PAUSED, Phase.CREATED}),
    DesiredState.STOPPED: frozenset({Phase.STOPPED, Phase.CREATED}),
    DesiredState.TERMINATED: frozenset({Phase.TERMINATED}),
}

# The phases of a started instance (on its way up, or up): a walk enters them only while
# asked to run, and entering one starts something.
STARTED_PHASES = frozenset({Phase.STARTING, Phase.RUNNING})


def is_legal(source: Phase, target: Phase, table: Transitions = TRANSITIONS) -> bool:
    return target in table[source]


def satisfies(phase: Phase, desired: DesiredState) -> bool:
    """Whether `phase` is where an instance asked for `desired` comes to rest.

    A never-started instance (Created) already satisfies Paused and Stopped: starting it
    only to stop it again would be work for nothing.
    """
    return phase in _SATISFIES[desired]


def lowest(states: Iterable[DesiredState]) -> DesiredState:
    return min(states, key=_RANK.__getitem__)


# The cap a parent's phase puts on its children (DESIGN: "A child follows its parent").
_PARENT_CAP: dict[Phase, DesiredState] = {
    Phase.RUNNING: DesiredState.RUNNING,
    Phase.PAUSED: DesiredState.PAUSED,
    Phase.CREATED: DesiredState.STOPPED,
    Phase.STARTING: DesiredState.STOPPED,
    Phase.STOPPING: DesiredState.STOPPED,
    Phase.STOPPED: DesiredState.STOPPED,
    Phase.ERROR: DesiredState.STOPPED,
    Phase.TERMINATED: DesiredState.TERMINATED,
}


def parent_cap(parent_phase: Phase) -> DesiredState:
    return _PARENT_CAP[parent_phase]


def capped_target(own: DesiredState, parent_phase: Phase | None) -> DesiredState:
    """The child's effective target: its own state capped by its parent's phase."""
    if parent_phase is None:
        return own
    return lowest((own, parent_cap(parent_phase)))


@cache
def shortest_path(source: Phase, desired: DesiredState) -> tuple[Phase, ...]:
    """The phases a walk from `source` visits to satisfy `desired`, `source` excluded.

    Empty when `source` already satisfies it or no legal walk exists (Terminated is final).
    Breadth-first over the transition table, neighbours in a fixed order, so the walk is
    the same every time.
    """
    if satisfies(source, desired):
        return ()
    previous: dict[Phase, Phase] = {}
    queue = deque([source])
    seen = {source}
    while queue:
        phase = queue.popleft()
        for nxt in sorted(TRANSITIONS[phase]):
            if nxt in seen or nxt is Phase.ERROR:
                continue  # Error is where failures land, never a planned step
            seen.add(nxt)
            previous[nxt] = phase
            if nxt in _SATISFIES[desired]:
                path: list[Phase] = [nxt]
                while path[-1] in previous and previous[path[-1]] != source:
                    path.append(previous[path[-1]])
                return tuple(reversed(path))
            queue.append(nxt)
    return ()


def next_step(source: Phase, desired: DesiredState) -> Phase | None:
    path = shortest_path(source, desired)
    return path[0] if path else None
