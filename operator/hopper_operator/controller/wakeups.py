"""Which keys an observed change puts on the work queue: the event handlers' rules.

Kopf watches do not wake a child when its parent's status changes; these rules do, and
they wake no more than needed: children only when something they read of their parent
changed, a parent (in batches) only when a child's phase changed, and an instance not on
the echo of a version its last pass already decided on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from hopper_operator.api.enums import Phase
from hopper_operator.controller.indexes import Lookup
from hopper_operator.controller.queue import KeyQueue
from hopper_operator.controller.records import Key, Records
from hopper_operator.core.views import InstanceView


class Signature(NamedTuple):
    """What children read of their parent: a change in any of it wakes them."""

    uid: str
    deleting: bool
    phase: Phase
    ready: str | None
    effective_config_hash: str | None
    config: Mapping[str, object] | None


def signature(view: InstanceView) -> Signature:
    return Signature(
        uid=view.uid,
        deleting=view.deleting,
        phase=view.phase,
        ready=view.ready,
        effective_config_hash=view.effective_config_hash,
        config=view.spec.config if view.spec else None,
    )


# A parent recounts its children once they have not changed phase for a moment, and at
# the latest this long after the first change (a subtree of 1000 must not cost 1000
# writes on its parent, nor one every few seconds while it walks).
CHILDREN_QUIET_SECONDS = 3.0
CHILDREN_LATEST_SECONDS = 60.0

# (delay, callback): asyncio's call_later in the operator, a fake in tests.
Later = Callable[[float, Callable[[], None]], object]


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _call_later(delay: float, callback: Callable[[], None]) -> object:
    return asyncio.get_running_loop().call_later(delay, callback)


@dataclass
class Recount:
    """Queues a parent once its children's phases stop changing, or at the latest."""

    queue: KeyQueue
    quiet: float = CHILDREN_QUIET_SECONDS
    latest: float = CHILDREN_LATEST_SECONDS
    clock: Callable[[], float] = _loop_time
    later: Later = _call_later
    _changes: dict[Key, tuple[float, float]] = field(default_factory=dict)  # first, last

    def changed(self, parent: Key) -> None:
        now = self.clock()
        first, _ = self._changes.get(parent, (now, now))
        if parent not in self._changes:
            self.later(self.quiet, lambda: self._due(parent))
        self._changes[parent] = (first, now)

    def _due(self, parent: Key) -> None:
        first, last = self._changes[parent]
        due, now = min(last + self.quiet, first + self.latest), self.clock()
        if now < due:
            self.later(due - now, lambda: self._due(parent))
            return
        del self._changes[parent]
        self.queue.add(parent)


@dataclass
class Wakeups:
    queue: KeyQueue
    children: Lookup[str]  # (namespace, parent name) -> child names
    recount: Recount
    records: Records = field(default_factory=Records)  # the reconciler's: echoes to skip
    _signatures: dict[Key, Signature] = field(default_factory=dict)

    def instance(self, view: InstanceView, *, gone: bool) -> None:
        """An instance was added, changed, or deleted (`gone`)."""
        key = view.key
        before = self._signatures.pop(key, None) if gone else self._signatures.get(key)
        after = None if gone else signature(view)
        if after is not None:
            self._signatures[key] = after
            if self.records.failed_before(key, view.resource_version):
                self.queue.forget(key)  # newer than what failed: its backoff starts over
            if not self.records.decided_on(key, view.resource_version):
                self.queue.add(key)
        if after != before:
            for child in self.children(key):
                self.queue.add((view.namespace, child))
        # The parent counts its children by phase: refresh it, in batches.
        if view.parent_name and (after is None or before is None or before.phase != after.phase):
            self.recount.changed((view.namespace, view.parent_name))

    def config_map(self, owner: Key, config_map_hash: str | None, *, gone: bool) -> None:
        """The ConfigMap of `owner` was added, changed or deleted (`gone`)."""
        if gone or not self.records.holds_config(owner, config_map_hash):
            self.queue.add(owner)

    def owned(self, owner: Key) -> None:
        """A Deployment, ConfigMap or Pod of `owner` changed."""
        self.queue.add(owner)
