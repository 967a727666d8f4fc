"""Which keys a change queues: children on what they read of a parent, parents in batches."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hopper_operator.api.enums import Phase
from hopper_operator.controller.reconciler import CHILDREN_REFRESH_SECONDS
from hopper_operator.controller.wakeups import Wakeups
from tests.unit.builders import view

Key = tuple[str, str]
PARENT, CHILD = ("ns", "acme"), ("ns", "web")


@dataclass
class Queued:
    """Records what was queued, with its delay."""

    keys: dict[Key, float] = field(default_factory=dict)

    def add(self, key: Key, delay: float = 0.0) -> None:
        self.keys[key] = min(delay, self.keys.get(key, delay))


def rules() -> tuple[Wakeups, Queued]:
    queued, children = Queued(), {PARENT: ["web"]}
    return Wakeups(queue=queued, children=lambda key: children.get(key, ())), queued


def test_a_new_parent_wakes_itself_and_its_waiting_children() -> None:
    wakeups, queued = rules()
    wakeups.instance(view("acme", phase="Running"), gone=False)
    assert queued.keys == {PARENT: 0.0, CHILD: 0.0}


def test_children_wake_only_when_what_they_read_changes() -> None:
    wakeups, queued = rules()
    parent = view("acme", phase="Running", ready=True)
    wakeups.instance(parent, gone=False)
    queued.keys.clear()
    wakeups.instance(replace(parent, resource_version="11"), gone=False)  # e.g. its counts
    assert queued.keys == {PARENT: 0.0}
    paused = parent.status.model_copy(update={"phase": Phase.PAUSED})
    wakeups.instance(replace(parent, status=paused), gone=False)
    assert queued.keys == {PARENT: 0.0, CHILD: 0.0}


def test_a_child_refreshes_its_parent_in_batches_on_a_phase_change() -> None:
    wakeups, queued = rules()
    child = view("web", "PROJECT", parent="acme", phase="Starting")
    wakeups.instance(child, gone=False)
    assert queued.keys == {CHILD: 0.0, PARENT: CHILDREN_REFRESH_SECONDS}
    queued.keys.clear()
    wakeups.instance(replace(child, resource_version="11"), gone=False)
    assert queued.keys == {CHILD: 0.0}  # same phase: the parent's counts stand


def test_a_deleted_instance_wakes_its_children_and_parent_not_itself() -> None:
    wakeups, queued = rules()
    middle = view("acme", "PROJECT", parent="top", phase="Running")
    wakeups.instance(middle, gone=False)
    queued.keys.clear()
    wakeups.instance(middle, gone=True)
    assert queued.keys == {CHILD: 0.0, ("ns", "top"): CHILDREN_REFRESH_SECONDS}


def test_an_owned_object_wakes_its_owner() -> None:
    wakeups, queued = rules()
    wakeups.owned(PARENT)
    assert queued.keys == {PARENT: 0.0}
