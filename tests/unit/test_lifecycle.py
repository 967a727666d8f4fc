"""The lifecycle table, walks and parent caps, checked for every combination."""

from __future__ import annotations

import itertools

import pytest

from hopper_operator.api.enums import DesiredState, Phase
from hopper_operator.core import lifecycle

DESIGN_TABLE = {
    "Created": {"Starting", "Terminated"},
    "Starting": {"Running", "Error", "Stopping"},
    "Running": {"Stopping", "Paused", "Error"},
    "Paused": {"Running", "Stopping"},
    "Stopping": {"Stopped", "Error"},
    "Stopped": {"Starting", "Terminated"},
    "Error": {"Starting", "Terminated", "Stopping"},
    "Terminated": set(),
}


def test_transition_table_is_the_designed_one() -> None:
    actual = {p.value: {t.value for t in ts} for p, ts in lifecycle.TRANSITIONS.items()}
    assert actual == DESIGN_TABLE


def test_the_original_table_is_the_designed_one_less_the_two_added_stops() -> None:
    original = {p.value: {t.value for t in ts} for p, ts in lifecycle.ORIGINAL_TRANSITIONS.items()}
    added = {("Starting", "Stopping"), ("Error", "Stopping")}
    assert {(p, t) for p, ts in DESIGN_TABLE.items() for t in ts} - {
        (p, t) for p, ts in original.items() for t in ts
    } == added
    assert all(original[p] <= DESIGN_TABLE[p] for p in DESIGN_TABLE)


@pytest.mark.parametrize(("source", "desired"), list(itertools.product(Phase, DesiredState)))
def test_every_walk_takes_only_legal_edges_and_arrives(
    source: Phase, desired: DesiredState
) -> None:
    path = lifecycle.shortest_path(source, desired)
    here = source
    for phase in path:
        assert lifecycle.is_legal(here, phase), f"{here} -> {phase}"
        assert phase is not Phase.ERROR
        here = phase
    if source is Phase.TERMINATED:
        assert path == ()
    else:
        assert lifecycle.satisfies(here, desired), f"{source} walks to {here}, not {desired}"


@pytest.mark.parametrize(("source", "desired"), list(itertools.product(Phase, DesiredState)))
def test_walks_are_shortest(source: Phase, desired: DesiredState) -> None:
    # Brute force: no legal sequence of fewer steps reaches a satisfying phase.
    path = lifecycle.shortest_path(source, desired)
    frontier = {source}
    for _ in range(len(path) - 1 if path else 0):
        frontier = {n for p in frontier for n in lifecycle.TRANSITIONS[p] if n is not Phase.ERROR}
        assert not any(lifecycle.satisfies(p, desired) for p in frontier)


def test_created_satisfies_paused_and_stopped_but_not_running() -> None:
    assert lifecycle.shortest_path(Phase.CREATED, DesiredState.PAUSED) == ()
    assert lifecycle.shortest_path(Phase.CREATED, DesiredState.STOPPED) == ()
    assert lifecycle.shortest_path(Phase.CREATED, DesiredState.RUNNING) == (
        Phase.STARTING,
        Phase.RUNNING,
    )


CAPS = {
    Phase.RUNNING: DesiredState.RUNNING,
    Phase.PAUSED: DesiredState.PAUSED,
    Phase.CREATED: DesiredState.STOPPED,
    Phase.STARTING: DesiredState.STOPPED,
    Phase.STOPPING: DesiredState.STOPPED,
    Phase.STOPPED: DesiredState.STOPPED,
    Phase.ERROR: DesiredState.STOPPED,
    Phase.TERMINATED: DesiredState.TERMINATED,
}
ORDER = [DesiredState.TERMINATED, DesiredState.STOPPED, DesiredState.PAUSED, DesiredState.RUNNING]


@pytest.mark.parametrize(("own", "parent"), list(itertools.product(DesiredState, Phase)))
def test_parent_caps_the_child(own: DesiredState, parent: Phase) -> None:
    expected = min(own, CAPS[parent], key=ORDER.index)
    assert lifecycle.capped_target(own, parent) is expected


@pytest.mark.parametrize("own", DesiredState)
def test_no_parent_no_cap(own: DesiredState) -> None:
    assert lifecycle.capped_target(own, None) is own
