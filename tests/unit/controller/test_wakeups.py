"""Which keys a change queues: children on what they read of a parent, parents in batches,
an instance on anything but the echo of a version its last pass decided on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hopper_operator.api.enums import Phase
from hopper_operator.controller.records import KeyRecord
from hopper_operator.controller.wakeups import Recount, Wakeups
from tests.unit.builders import view

Key = tuple[str, str]
PARENT, CHILD = ("ns", "acme"), ("ns", "web")


@dataclass
class Queued:
    """Records what was queued, with its delay."""

    keys: dict[Key, float] = field(default_factory=dict)

    def add(self, key: Key, delay: float = 0.0) -> None:
        self.keys[key] = min(delay, self.keys.get(key, delay))

    def add_rate_limited(self, key: Key, retry_after: float | None = None) -> float:
        raise AssertionError("the event handlers never rate-limit")

    def forget(self, key: Key) -> None:
        pass


@dataclass
class Timers:
    """A clock the test moves, and the callbacks due on it."""

    now: float = 0.0
    due: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        self.due.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        ready = [item for item in self.due if item[0] <= self.now]
        self.due = [item for item in self.due if item[0] > self.now]
        for _, callback in ready:
            callback()


def rules(timers: Timers | None = None) -> tuple[Wakeups, Queued]:
    queued, children, timers = Queued(), {PARENT: ["web"]}, timers or Timers()
    recount = Recount(queued, quiet=2.0, latest=30.0, clock=lambda: timers.now, later=timers.later)
    wakeups = Wakeups(queue=queued, children=lambda key: children.get(key, ()), recount=recount)
    return wakeups, queued


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
    wakeups.instance(parent.with_status(paused), gone=False)
    assert queued.keys == {PARENT: 0.0, CHILD: 0.0}


def test_a_child_refreshes_its_parent_once_its_phase_changes_settle() -> None:
    timers = Timers()
    wakeups, queued = rules(timers)
    child = view("web", "PROJECT", parent="acme", phase="Starting")
    wakeups.instance(child, gone=False)
    assert queued.keys == {CHILD: 0.0}  # the parent is not woken yet
    timers.advance(1.0)
    running = child.status.model_copy(update={"phase": Phase.RUNNING})
    wakeups.instance(child.with_status(running), gone=False)  # another change: wait on
    timers.advance(1.5)
    assert PARENT not in queued.keys
    timers.advance(0.5)  # two quiet seconds since the last change
    assert queued.keys == {CHILD: 0.0, PARENT: 0.0}
    queued.keys.clear()
    wakeups.instance(replace(child.with_status(running), resource_version="12"), gone=False)
    timers.advance(5.0)
    assert queued.keys == {CHILD: 0.0}  # same phase: the parent's counts stand


def test_children_that_never_settle_refresh_their_parent_at_the_latest() -> None:
    timers = Timers()
    wakeups, queued = rules(timers)
    child, phases = view("web", "PROJECT", parent="acme"), [Phase.STARTING, Phase.RUNNING]
    for tick in range(40):  # a change every second, for 40 s
        status = child.status.model_copy(update={"phase": phases[tick % 2]})
        wakeups.instance(child.with_status(status), gone=False)
        timers.advance(1.0)
        if tick == 28:
            assert PARENT not in queued.keys
    assert queued.keys[PARENT] == 0.0  # 30 s after the first change


def test_the_echo_of_a_version_already_decided_on_wakes_no_pass() -> None:
    wakeups, queued = rules()
    wakeups.records.set_record(PARENT, KeyRecord(decided=20))
    parent = view("acme", phase="Running", ready=True)
    wakeups.instance(replace(parent, resource_version="20"), gone=False)
    wakeups.instance(replace(parent, resource_version="19"), gone=False)  # an earlier write
    assert PARENT not in queued.keys
    wakeups.instance(replace(parent, resource_version="21"), gone=False)  # someone else's
    assert queued.keys[PARENT] == 0.0


def test_a_deleted_instance_wakes_its_children_and_parent_not_itself() -> None:
    wakeups, queued = rules()
    middle = view("acme", "PROJECT", parent="top", phase="Running")
    wakeups.instance(middle, gone=False)
    queued.keys.clear()
    wakeups.instance(middle, gone=True)
    assert queued.keys == {CHILD: 0.0}
    assert ("ns", "top") in wakeups.recount._changes  # recounted once the changes settle


def test_an_owned_object_wakes_its_owner() -> None:
    wakeups, queued = rules()
    wakeups.owned(PARENT)
    assert queued.keys == {PARENT: 0.0}


def test_a_config_map_wakes_its_owner_unless_it_holds_what_the_last_pass_decided_with() -> None:
    wakeups, queued = rules()
    wakeups.records.set_record(PARENT, KeyRecord(decided=20, config_hash="abc"))
    wakeups.config_map(PARENT, "abc", gone=False)  # the one the pass just created
    assert queued.keys == {}
    wakeups.config_map(PARENT, "edited", gone=False)  # changed by someone else
    assert queued.keys == {PARENT: 0.0}
    queued.keys.clear()
    wakeups.config_map(PARENT, "abc", gone=True)  # deleted: to be made again
    assert queued.keys == {PARENT: 0.0}
    queued.keys.clear()
    wakeups.records.set_record(PARENT, KeyRecord())
    wakeups.config_map(PARENT, "abc", gone=False)  # no decision on record: reconcile
    assert queued.keys == {PARENT: 0.0}
