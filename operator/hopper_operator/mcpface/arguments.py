"""What each tool takes: pydantic models, whose JSON Schemas are the tools' input schemas.

The shapes are the REST API's (its create body, its list's filters, its verbs' `wait` and
timeout), with the namespace an argument: MCP has no path to carry it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hopper_operator.rest.schemas import (
    AnyCaseScope,
    AnyCaseStatus,
    InstanceCreate,
    InstanceId,
    SortBy,
    SortOrder,
)

MAX_WAIT = 300.0  # seconds: what the REST verbs' `timeout` allows

Namespace = Annotated[
    str | None,
    Field(
        default=None,
        description="The Kubernetes namespace; default: the one this server serves.",
    ),
]
Timeout = Annotated[
    float,
    Field(default=30.0, gt=0, le=MAX_WAIT, description="Seconds to wait at most (<= 300)."),
]


class Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: Namespace = None


class ListArguments(Arguments):
    scope: list[AnyCaseScope] = Field(
        default_factory=list, description="Only these scopes (any case); all when empty."
    )
    status: list[AnyCaseStatus] = Field(
        default_factory=list, description="Only these statuses; all when empty."
    )
    parent_id: InstanceId | None = Field(default=None, description="Only this one's children.")
    root_only: bool = Field(default=False, description="Only instances without a parent.")
    sort_by: SortBy = SortBy.CREATED_AT
    sort_order: SortOrder = SortOrder.DESC
    skip: int = Field(default=0, ge=0, description="How many matches to skip (paging).")
    limit: int = Field(default=20, ge=1, le=100, description="A page's size, 1 to 100.")


class InstanceArguments(Arguments):
    id: InstanceId = Field(description="The instance's id (its Kubernetes object name).")


class WaitArguments(InstanceArguments):
    status: AnyCaseStatus | None = Field(
        default=None, description="Wait until it is in this status (e.g. running)."
    )
    ready: bool = Field(default=True, description="Wait until it is Ready too (default true).")
    timeout_seconds: Timeout = 30.0


class VerbArguments(InstanceArguments):
    wait: bool = Field(
        default=True, description="Wait until the instance got there (default true)."
    )
    timeout_seconds: Timeout = 30.0


class DeleteArguments(InstanceArguments):
    purge: bool = Field(
        default=False,
        description="Remove the object too; default: terminate it and keep it (soft delete).",
    )


class CreateArguments(Arguments, InstanceCreate):
    """The REST create body, and the namespace."""

    def body(self) -> InstanceCreate:
        return InstanceCreate.model_validate(self.model_dump(exclude={"namespace"}))
