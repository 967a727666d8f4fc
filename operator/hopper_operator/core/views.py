"""Compact, immutable views of observed objects, parsed once when an event arrives.

The in-memory indexes hold these rather than raw bodies: the reconciler reads them without
a request, and a malformed object is caught here once instead of in every reconcile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from sys import intern
from typing import TypedDict, cast

from pydantic import ValidationError

from hopper_operator.api.enums import ConditionType, Phase, Scope
from hopper_operator.api.meta import API_VERSION, KIND, Annotation, parse_time
from hopper_operator.api.models import HopperInstanceSpec, HopperInstanceStatus
from hopper_operator.api.wire import InstanceBody, MetaBody, OwnerReferenceBody
from hopper_operator.core.bodies import DeploymentBody, DeploymentSpec, DeploymentStatus


class SpecFields(TypedDict):
    stored_spec: bytes | None
    spec_error: str | None
    scope: Scope | None
    parent_name: str | None


class StatusFields(TypedDict):
    phase: Phase
    ready: str | None
    stalled: str | None
    effective_config_hash: str | None
    stored_status: bytes


@dataclass(frozen=True, slots=True)
class OwnerReference:
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None

    @classmethod
    def to_instance(cls, name: str, uid: str) -> OwnerReference:
        """The controller reference from an object to the instance that owns it."""
        return cls(API_VERSION, KIND, name, uid, controller=True, block_owner_deletion=True)

    @property
    def instance_controller(self) -> bool:
        return self.kind == KIND and bool(self.controller)


def _owner_reference(ref: OwnerReferenceBody) -> OwnerReference:
    return OwnerReference(
        api_version=intern(str(ref.get("apiVersion", ""))),
        kind=intern(str(ref.get("kind", ""))),
        name=str(ref.get("name", "")),
        uid=str(ref.get("uid", "")),
        controller=ref.get("controller"),
        block_owner_deletion=ref.get("blockOwnerDeletion"),
    )


@dataclass(frozen=True, slots=True)
class InstanceView:
    """One instance as the index keeps it: spec and status validated once, then kept as
    compact JSON (parsed again when read: 5 us, then kept in a process-wide LRU of the 256
    last bodies parsed, shared by every view holding the same bytes), with
    what the index, the wakeups and the metrics read of every instance pulled out. The
    index holds one view per instance: spec and status as pydantic objects were 4.9 KiB
    of a 5.5 KiB view."""

    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    stored_spec: bytes | None  # the valid spec, as JSON; None: see spec_error
    spec_error: str | None
    scope: Scope | None
    parent_name: str | None
    phase: Phase
    ready: str | None  # the Ready condition's status ("True", "False", "Unknown")
    stalled: str | None  # the reason of the Stalled condition, while it is True
    effective_config_hash: str | None
    stored_status: bytes  # the readable status, as JSON; b"{}" for one we cannot read
    labels: Mapping[str, str]
    owner_references: tuple[OwnerReference, ...]
    finalizers: tuple[str, ...]
    deleting: bool
    restart_token: str | None
    created_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def spec(self) -> HopperInstanceSpec | None:
        return None if self.stored_spec is None else _parsed_spec(self.stored_spec)

    @property
    def status(self) -> HopperInstanceStatus:
        return _parsed_status(self.stored_status)

    def with_status(self, status: HopperInstanceStatus) -> InstanceView:
        stored = status.model_dump_json(by_alias=True, exclude_none=True).encode()
        return replace(self, **_status_fields(status, stored))


# One model shared by every view holding the same bytes: API models are frozen.
@lru_cache(maxsize=256)
def _parsed_spec(stored: bytes) -> HopperInstanceSpec:
    return HopperInstanceSpec.model_validate_json(stored)


@lru_cache(maxsize=256)
def _parsed_status(stored: bytes) -> HopperInstanceStatus:
    return HopperInstanceStatus.model_validate_json(stored)


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps builds one per call


def _compact(raw: object) -> bytes:
    return _COMPACT.encode(raw).encode()


def _spec_fields(raw: object) -> SpecFields:
    try:
        spec = HopperInstanceSpec.model_validate(raw)
    except ValidationError as error:
        return {
            "stored_spec": None,
            "spec_error": _readable(error),
            "scope": None,
            "parent_name": None,
        }
    return {
        "stored_spec": _compact(raw),
        "spec_error": None,
        "scope": spec.scope,
        "parent_name": intern(spec.parent_name) if spec.parent_name else None,
    }


def _status_fields(status: HopperInstanceStatus, stored: bytes) -> StatusFields:
    ready, stalled = status.condition(ConditionType.READY), status.condition(ConditionType.STALLED)
    return {
        "phase": status.phase or Phase.CREATED,
        "ready": ready.status if ready else None,
        "stalled": stalled.reason if stalled and stalled.status == "True" else None,
        "effective_config_hash": status.effective_config_hash,
        "stored_status": stored,
    }


def _stored_status(raw: object) -> StatusFields:
    try:
        status = HopperInstanceStatus.model_validate(raw or {})
    except ValidationError:
        return _status_fields(HopperInstanceStatus(), b"{}")  # one we rewrite
    return _status_fields(status, _compact(raw or {}))


def instance_view(raw: Mapping[str, object]) -> InstanceView:
    body = cast(InstanceBody, raw)
    meta = body.get("metadata", MetaBody())
    # Strings most instances share (namespace, label keys and values, finalizers) are
    # interned: one copy for all, where each body brings its own.
    return InstanceView(
        namespace=intern(str(meta.get("namespace", ""))),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation", 1)),
        resource_version=str(meta.get("resourceVersion", "")),
        **_spec_fields(body.get("spec", {})),
        **_stored_status(body.get("status")),
        labels={intern(str(k)): intern(str(v)) for k, v in (meta.get("labels") or {}).items()},
        owner_references=tuple(_owner_reference(ref) for ref in meta.get("ownerReferences") or ()),
        finalizers=tuple(intern(str(f)) for f in meta.get("finalizers") or ()),
        deleting=bool(meta.get("deletionTimestamp")),
        restart_token=(meta.get("annotations") or {}).get(Annotation.RESTARTED_AT) or None,
        created_at=parse_time(meta.get("creationTimestamp")),
    )


def _readable(error: ValidationError) -> str:
    return "; ".join(
        f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
        for e in error.errors()
    )


@dataclass(frozen=True)
class WorkloadView:
    """What the reconciler needs of an instance's Deployment."""

    spec_hash: str | None
    replicas: int
    up_to_date: bool  # the deployment controller has seen the latest spec
    available_replicas: int
    updated_replicas: int
    failure: str | None

    @property
    def available(self) -> bool:
        return (
            self.up_to_date
            and self.updated_replicas >= self.replicas
            and self.available_replicas >= self.replicas
        )


def workload_view(raw: Mapping[str, object]) -> WorkloadView:
    body = cast(DeploymentBody, raw)
    meta = body.get("metadata", MetaBody())
    spec = body.get("spec") or DeploymentSpec()
    status = body.get("status") or DeploymentStatus()
    up_to_date = int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 1))
    return WorkloadView(
        spec_hash=(meta.get("annotations") or {}).get(Annotation.SPEC_HASH),
        replicas=int(spec.get("replicas", 1)),
        up_to_date=up_to_date,
        available_replicas=int(status.get("availableReplicas", 0)),
        updated_replicas=int(status.get("updatedReplicas", 0)),
        failure=_failure(status) if up_to_date else None,
    )


def _failure(status: DeploymentStatus) -> str | None:
    for condition in status.get("conditions") or ():
        kind, state, reason = (
            condition.get("type"),
            condition.get("status"),
            condition.get("reason"),
        )
        if kind == "Progressing" and state == "False" and reason == "ProgressDeadlineExceeded":
            return f"ProgressDeadlineExceeded: {condition.get('message', '')}".strip()
        if kind == "ReplicaFailure" and state == "True":
            return f"ReplicaFailure: {condition.get('message', '')}".strip()
    return None
