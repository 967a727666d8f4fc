"""Which keys an observed change puts on the work queue: the event handlers' rules.

Kopf watches do not wake a child when its parent's status changes; these rules do, and
they wake no more than needed: children only when something they read of their parent
changed, a parent (in batches) only when a child's phase changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from hopper_operator.api.enums import ConditionType, Phase
from hopper_operator.controller.reconciler import CHILDREN_REFRESH_SECONDS, Key, Lookup
from hopper_operator.core.views import InstanceView


class Signature(NamedTuple):
    """What children read of their parent: a change in any of it wakes them."""

    uid: str
    deleting: bool
    phase: Phase
    ready: str | None
    effective_config_hash: str | None
    config: Any


def signature(view: InstanceView) -> Signature:
    ready = view.status.condition(ConditionType.READY)
    return Signature(
        uid=view.uid,
        deleting=view.deleting,
        phase=view.phase,
        ready=ready.status if ready else None,
        effective_config_hash=view.status.effective_config_hash,
        config=view.spec.config if view.spec else None,
    )


class Queue(Protocol):
    def add(self, key: Key, delay: float = 0.0) -> None: ...


@dataclass
class Wakeups:
    queue: Queue
    children: Lookup  # (namespace, parent name) -> child names
    _signatures: dict[Key, Signature] = field(default_factory=dict)

    def instance(self, view: InstanceView, *, gone: bool) -> None:
        """An instance was added, changed, or deleted (`gone`)."""
        key = view.key
        before = self._signatures.pop(key, None) if gone else self._signatures.get(key)
        after = None if gone else signature(view)
        if after is not None:
            self._signatures[key] = after
            self.queue.add(key)
        if after != before:
            for child in self.children(key):
                self.queue.add((view.namespace, child))
        # The parent counts its children by phase: refresh it, in batches.
        if view.parent_name and (after is None or before is None or before.phase != after.phase):
            self.queue.add((view.namespace, view.parent_name), CHILDREN_REFRESH_SECONDS)

    def owned(self, owner: Key) -> None:
        """A Deployment, ConfigMap or Pod of `owner` changed."""
        self.queue.add(owner)
