"""A plan: what one reconcile step changes, decided before any request is sent.

The plan is intent, typed: the status the instance should have, its labels, owner and
finalizer, the owned objects it should (not) have, its Events. How each is said on the
wire (merge patches, the ownerReference body, create or apply and the fallback between
them) is `resources.render`'s business; nothing after `decide` chooses what to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from hopper_operator.api.enums import Phase
from hopper_operator.api.models import HopperInstanceStatus
from hopper_operator.api.runtime import Runtime


class Write(StrEnum):
    ENSURE = "ensure"  # the object should exist, as built from the write's values
    DELETE = "delete"


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    type: EventType
    reason: str  # a Reason, or the phase entered
    message: str
    walk: tuple[Phase, ...] = ()  # a step's phases, from and to; empty for other Events
    why: str = ""  # a step's reason, as the message gives it


def step_event(walk: tuple[Phase, ...], why: str, *, failed: bool) -> Event:
    """The Event of a step (or of several in one pass): "Created -> Starting (why)"."""
    return Event(
        EventType.WARNING if failed else EventType.NORMAL,
        walk[-1].value,
        f"{' -> '.join(phase.value for phase in walk)} ({why})",
        walk,
        why,
    )


def one_per_pass(events: Iterable[Event]) -> tuple[Event, ...]:
    """The Events of one reconcile pass: its steps said in one, the others as they came.

    A pass that walks Created -> Starting -> Running posts one Event saying so, with the
    reason of the last step, rather than one per step: the same story in half the writes.
    """
    notes = list(events)
    steps = [note for note in notes if note.walk]
    others = tuple(dict.fromkeys(note for note in notes if not note.walk))
    if len(steps) <= 1:
        return (*steps, *others)
    walk = steps[0].walk + tuple(phase for step in steps[1:] for phase in step.walk[1:])
    failed = any(step.type is EventType.WARNING for step in steps)
    return (step_event(walk, steps[-1].why, failed=failed), *others)


@dataclass(frozen=True)
class ConfigMapWrite:
    write: Write
    config: Mapping[str, object] = field(default_factory=dict)  # the effective config
    digest: str | None = None
    exists: bool = False  # the index holds one already (with another hash)


@dataclass(frozen=True)
class DeploymentWrite:
    write: Write
    runtime: Runtime | None = None
    replicas: int = 0
    config_digest: str = ""


@dataclass(frozen=True)
class Owner:
    """The instance the controller reference must name (its parent)."""

    name: str
    uid: str


@dataclass(frozen=True)
class Metadata:
    """What changes in the instance's own metadata; None: leave that part as it is."""

    labels: Mapping[str, str] | None = None  # the whole label set it should have
    owner: Owner | None = None  # the controller reference must name this instance
    finalizer: bool | None = None  # ours added (True) or released (False)


@dataclass(frozen=True)
class Plan:
    """The changes of one step, in the order they are made; None means "leave it"."""

    metadata: Metadata | None = None
    config_map: ConfigMapWrite | None = None
    deployment: DeploymentWrite | None = None
    status: HopperInstanceStatus = field(default_factory=HopperInstanceStatus)
    status_changed: bool = False  # `status` differs from the instance's: write it
    events: tuple[Event, ...] = ()
    delete_instance: bool = False
    requeue_after: float | None = None
    stepped: bool = False  # a phase transition: the pass may take the next step at once

    @property
    def writes(self) -> bool:
        owned = (self.metadata, self.config_map, self.deployment)
        changed = self.delete_instance or self.status_changed
        return changed or any(write is not None for write in owned)
