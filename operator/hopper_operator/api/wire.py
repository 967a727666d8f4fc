"""A HopperInstance as it travels: the JSON body the API server sends and kubectl prints.

For the code that reads bodies without parsing them into the models (the REST face, the
kubectl plugin, the verb vocabulary): only the fields they read are typed here, and the
models in `api.models` stay the schema. Standard library only: the kubectl plugin ships
this module in its single-file archive.
"""

from __future__ import annotations

from typing import TypedDict

from hopper_operator.api.enums import ConditionType, Phase

Json = dict[str, object]  # a free-form JSON object (spec.config, runtime metadata)


class ConditionBody(TypedDict, total=False):
    type: str
    status: str  # "True", "False", "Unknown"
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


class StatusBody(TypedDict, total=False):
    phase: str
    observedGeneration: int
    conditions: list[ConditionBody]
    lastRestart: str  # the restart token last carried out
    startedAt: str
    stoppedAt: str


class ParentRefBody(TypedDict):
    name: str


class SpecBody(TypedDict, total=False):
    scope: str
    state: str
    instanceType: str
    displayName: str
    description: str
    parentRef: ParentRefBody
    config: Json


class ManagedFieldsEntry(TypedDict, total=False):
    manager: str
    time: str


class OwnerReferenceBody(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class MetaBody(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    generation: int
    resourceVersion: str
    creationTimestamp: str
    deletionTimestamp: str
    annotations: dict[str, str]
    labels: dict[str, str]
    ownerReferences: list[OwnerReferenceBody]
    finalizers: list[str]
    managedFields: list[ManagedFieldsEntry]


class InstanceBody(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: MetaBody
    spec: SpecBody
    status: StatusBody


def phase_of(body: InstanceBody) -> Phase:
    """The observed phase; an object the operator has not yet seen is Created."""
    phase = str((body.get("status") or {}).get("phase"))
    return Phase(phase) if phase in set(Phase) else Phase.CREATED


def condition(body: InstanceBody, kind: ConditionType) -> ConditionBody:
    """The condition of that type in status, or an empty one."""
    for found in (body.get("status") or {}).get("conditions") or ():
        if found.get("type") == kind:
            return found
    return {}


def parent_of(body: InstanceBody) -> str | None:
    parent = (body.get("spec") or {}).get("parentRef")
    return parent["name"] if parent else None
