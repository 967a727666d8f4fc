"""Pydantic models of HopperInstance: parsed by the operator, compiled into the CRD.

Descriptions become `kubectl explain` text; `rules(...)` attach the CEL validations the
API server enforces, so a rule lives next to the field it guards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    model_validator,
)

from hopper_operator.api.base import ApiModel, more_rules, rules
from hopper_operator.api.enums import DesiredState, InstanceType, Phase, Scope
from hopper_operator.api.meta import API_VERSION, KIND, format_time
from hopper_operator.api.names import INSTANCE_NAME, Accepts
from hopper_operator.api.runtime import Runtime

# A label value holds at most 63 characters; names flow into labels (hopper.dev/parent).
MAX_NAME_LENGTH = INSTANCE_NAME.max_length
MAX_CONFIG_KEYS = 128


# RFC 3339 in UTC to the second, as Kubernetes writes metav1.Time.
Timestamp = Annotated[datetime, PlainSerializer(format_time, return_type=str, when_used="json")]


class ParentRef(ApiModel):
    """Reference to the parent instance in the scope tree."""

    name: Annotated[str, Accepts(INSTANCE_NAME, "the name of a HopperInstance")] = Field(
        min_length=1,
        description="Name of the parent HopperInstance, in the same namespace: "
        f"{INSTANCE_NAME.what}.",
        json_schema_extra=more_rules(("self == oldSelf", "spec.parentRef.name is immutable")),
    )


class HopperInstanceSpec(ApiModel):
    """The declared instance: its place in the tree, desired state, config and workload."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            (
                "self.scope != 'FEDERATED' || !has(self.parentRef)",
                "a FEDERATED instance is always a root: remove spec.parentRef",
            ),
            (
                "self.scope in ['FEDERATED', 'GLOBAL'] || has(self.parentRef)",
                "spec.parentRef is required for every scope below GLOBAL",
            ),
            (
                "has(self.parentRef) == has(oldSelf.parentRef)",
                "spec.parentRef cannot be added or removed after creation",
            ),
            (
                "oldSelf.state != 'Terminated' || self.state == 'Terminated'",
                "Terminated is final: spec.state cannot leave Terminated",
            ),
            (
                "!has(self.ttlSeconds) || self.instanceType == 'Temporary'",
                "spec.ttlSeconds is only allowed with instanceType Temporary",
            ),
        )
    )

    scope: Scope = Field(
        description="Place in the scope tree: FEDERATED and GLOBAL are roots; ORCHESTRATION "
        "sits under PROJECT, PERSONAL, FAMILY or EVENT. Immutable.",
        json_schema_extra=rules(("self == oldSelf", "spec.scope is immutable")),
    )
    parent_ref: ParentRef | None = Field(
        default=None,
        description="The parent instance. Forbidden for FEDERATED, optional for GLOBAL, "
        "required otherwise. Immutable.",
    )
    state: DesiredState = Field(
        default=DesiredState.RUNNING,
        description="Desired lifecycle state: Running, Paused, Stopped or Terminated "
        "(Terminated is final).",
    )
    instance_type: InstanceType = Field(
        default=InstanceType.PERSISTENT,
        description="Persistent instances stay; Ephemeral ones are deleted once Stopped or "
        "Terminated; Temporary ones terminate ttlSeconds after first reaching Running.",
    )
    ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Only for Temporary: seconds from first reaching Running to termination.",
    )
    display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Human-readable name (1..100 characters); defaults to metadata.name.",
    )
    description: str | None = Field(
        default=None, max_length=1000, description="Free text describing the instance."
    )
    config: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Free-form configuration, deep-merged down the tree: a child's keys win "
        f"over its parent's. At most {MAX_CONFIG_KEYS} top-level keys.",
        json_schema_extra={
            "x-kubernetes-preserve-unknown-fields": True,
            "maxProperties": MAX_CONFIG_KEYS,
        },
    )
    runtime: Runtime | None = Field(
        default=None,
        description="When set, the instance runs a Deployment with its effective config "
        "mounted at /etc/hopper.",
    )

    @model_validator(mode="after")
    def _check_rules(self) -> HopperInstanceSpec:
        # The same rules as the CEL above, for objects built in Python (tests, CLI).
        if self.scope is Scope.FEDERATED and self.parent_ref is not None:
            raise ValueError("a FEDERATED instance is always a root: remove spec.parentRef")
        if self.scope not in (Scope.FEDERATED, Scope.GLOBAL) and self.parent_ref is None:
            raise ValueError("spec.parentRef is required for every scope below GLOBAL")
        if self.ttl_seconds is not None and self.instance_type is not InstanceType.TEMPORARY:
            raise ValueError("spec.ttlSeconds is only allowed with instanceType Temporary")
        return self

    @property
    def parent_name(self) -> str | None:
        return self.parent_ref.name if self.parent_ref else None


class Condition(ApiModel):
    """metav1.Condition, as `kubectl wait --for=condition=...` and kstatus read it."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(description="Condition type, e.g. Ready.")
    status: str = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable detail.")
    last_transition_time: Timestamp = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, description="metadata.generation this condition was computed from."
    )


class ChildCounts(ApiModel):
    """Direct children of this instance, counted by phase."""

    total: int = Field(default=0, description="Direct children.")
    by_phase: dict[str, int] = Field(
        default_factory=dict, description="Direct children counted by phase."
    )


class HopperInstanceStatus(ApiModel):
    """What the operator observed and did, as of observedGeneration."""

    model_config = ConfigDict(extra="ignore")

    phase: Phase | None = Field(default=None, description="Observed lifecycle phase.")
    observed_generation: int | None = Field(
        default=None, description="The spec generation this status describes."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, ParentReady, WorkloadAvailable, and Reconciling/Stalled while true.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    started_at: Timestamp | None = Field(default=None, description="Last entry into Running.")
    stopped_at: Timestamp | None = Field(default=None, description="Last entry into Stopped.")
    terminated_at: Timestamp | None = Field(default=None, description="Entry into Terminated.")
    last_restart: str | None = Field(
        default=None,
        max_length=253,
        description=(
            "The last hopper.dev/restartedAt token carried out: recorded when the instance "
            "stops for a restart or starts. A Running or Paused instance whose annotation "
            "differs from it restarts."
        ),
    )
    expires_at: Timestamp | None = Field(
        default=None, description="Temporary instances: when the TTL terminates the instance."
    )
    depth: int | None = Field(default=None, description="Distance from the root (0 = root).")
    root: str | None = Field(default=None, description="Name of the root of this tree.")
    effective_config_hash: str | None = Field(
        default=None, description="Hash of the effective (inherited and merged) config."
    )
    config_map_name: str | None = Field(
        default=None, description="ConfigMap holding the effective config."
    )
    children: ChildCounts | None = Field(
        default=None, description="Counts of direct children, refreshed in batches."
    )

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)


class HopperInstanceMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    namespace: str = "default"


class HopperInstance(BaseModel):
    """A whole object as read from the API server (metadata kept loose, spec strict)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    kind: str = KIND
    metadata: HopperInstanceMetadata
    spec: HopperInstanceSpec
    status: HopperInstanceStatus = Field(default_factory=HopperInstanceStatus)
