"""The objects the views read, as the API server sends them: only the fields read.

Typed for the reader; nothing checks them at run time (a view reads each field with a
default, and validates spec and status with the API models).
"""

from __future__ import annotations

from typing import TypedDict


class OwnerReferenceBody(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    """The metadata a view reads, as the API server sends it."""

    namespace: str
    name: str
    uid: str
    generation: int
    resourceVersion: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReferenceBody]
    finalizers: list[str]
    deletionTimestamp: str
    creationTimestamp: str


class InstanceBody(TypedDict, total=False):
    metadata: ObjectMeta
    spec: object  # validated by HopperInstanceSpec
    status: object  # validated by HopperInstanceStatus


class DeploymentCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str


class DeploymentSpec(TypedDict, total=False):
    replicas: int


class DeploymentStatus(TypedDict, total=False):
    observedGeneration: int
    availableReplicas: int
    updatedReplicas: int
    conditions: list[DeploymentCondition]


class DeploymentBody(TypedDict, total=False):
    metadata: ObjectMeta
    spec: DeploymentSpec
    status: DeploymentStatus
