"""A plan: every write one reconcile step makes, decided before any request is sent.

`resources.render` turns a plan into requests; the controller sends them in order. Nothing
after `decide` chooses what to write, only how to say it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hopper_operator.api.models import HopperInstanceStatus
from hopper_operator.api.runtime import Runtime


class Write(StrEnum):
    CREATE = "create"  # an object the index has not seen: a plain POST is cheapest
    APPLY = "apply"  # server-side apply over what exists
    DELETE = "delete"


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    type: EventType
    reason: str  # a Reason, or the phase entered
    message: str


@dataclass(frozen=True)
class ConfigMapWrite:
    write: Write
    config: Mapping[str, Any] = field(default_factory=dict)  # the effective config
    digest: str | None = None


@dataclass(frozen=True)
class DeploymentWrite:
    write: Write
    runtime: Runtime | None = None
    replicas: int = 0
    config_digest: str = ""


@dataclass(frozen=True)
class Plan:
    """The writes of one step, in the order they are made; None means "leave it"."""

    metadata: Mapping[str, Any] | None = None  # merge patch of the instance's metadata
    config_map: ConfigMapWrite | None = None
    deployment: DeploymentWrite | None = None
    status_patch: Mapping[str, Any] | None = None
    status: HopperInstanceStatus = field(default_factory=HopperInstanceStatus)
    events: tuple[Event, ...] = ()
    delete_instance: bool = False
    requeue_after: float | None = None
    stepped: bool = False  # a phase transition: the pass may take the next step at once

    @property
    def writes(self) -> bool:
        owned = (self.metadata, self.config_map, self.deployment, self.status_patch)
        return self.delete_instance or any(write is not None for write in owned)
