"""The bodies of the Instance API, as the original server's schemas spelled them.

Shapes only: what a field may hold in Kubernetes (lengths, the config's key count, the tree
rules) is the CRD's to say, and its refusals reach the caller as the same 422 (see
`rest.errors`), so no rule of the resource is written twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hopper_operator.api.enums import InstanceType, Phase, Scope
from hopper_operator.api.names import INSTANCE_NAME, Accepts
from hopper_operator.api.wire import Json

InstanceId = Annotated[str, Accepts(INSTANCE_NAME, "an instance id")]


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _capitalised(value: object) -> object:
    return value.capitalize() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


# The Hopper CLI sends `project`, the original server wanted `PROJECT`: both are one scope.
AnyCaseScope = Annotated[Scope, BeforeValidator(_upper)]
AnyCaseType = Annotated[InstanceType, BeforeValidator(_capitalised)]


class Status(StrEnum):
    """An instance's status as the original spelled it: the phase, in lower case."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERROR = "error"
    TERMINATED = "terminated"

    @classmethod
    def of(cls, phase: Phase) -> Status:
        return cls(phase.value.lower())

    @property
    def phase(self) -> Phase:
        return Phase(self.value.capitalize())


AnyCaseStatus = Annotated[Status, BeforeValidator(_lower)]


class InstanceCreate(BaseModel):
    """A new instance. It is `created`, not started: start it with POST .../start."""

    id: InstanceId | None = Field(
        default=None, description="The object name; generated as <scope>-<8 hex> when absent."
    )
    name: str = Field(description="Display name (1-100 characters, any text).")
    scope: AnyCaseScope = Field(description="Place in the scope tree, in any case.")
    instance_type: AnyCaseType = Field(
        default=InstanceType.PERSISTENT, description="persistent, ephemeral or temporary."
    )
    parent_id: InstanceId | None = Field(default=None, description="The parent's id.")
    config: Json = Field(default_factory=dict)
    runtime_metadata: Json = Field(default_factory=dict)
    description: str | None = None
    created_by: str | None = Field(
        default=None, description="Who created it; default: the caller's Kubernetes user."
    )


class InstanceUpdate(BaseModel):
    """A change; `status` asks for a lifecycle change, as the verb of that target would."""

    name: str | None = None
    status: AnyCaseStatus | None = None
    config: Json | None = None
    runtime_metadata: Json | None = None
    description: str | None = None


class Instance(BaseModel):
    model_config = ConfigDict(use_enum_values=True)

    id: str
    name: str
    scope: Scope
    status: Status
    instance_type: str
    parent_id: str | None
    config: Json
    runtime_metadata: Json
    description: str | None
    created_at: datetime | None
    updated_at: datetime | None
    created_by: str | None
    started_at: datetime | None
    stopped_at: datetime | None


class InstanceList(BaseModel):
    items: list[Instance]
    total: int = Field(description="Every match, not only this page.")
    skip: int
    limit: int
    has_more: bool


class Node(BaseModel):
    instance: Instance
    children: list[Node]
    depth: int


class Hierarchy(BaseModel):
    root: Node
    total_instances: int


class InstanceStatus(BaseModel):
    id: str
    status: Status
    ready: bool
    reason: str | None
    message: str | None


class ErrorDetail(BaseModel):
    detail: str


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ValidationErrorBody(BaseModel):
    error_type: str = "ValidationError"
    errors: list[FieldError]


class SortBy(StrEnum):
    CREATED_AT = "created_at"
    NAME = "name"
    ID = "id"
    STATUS = "status"
    SCOPE = "scope"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"
