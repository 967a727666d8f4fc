"""A Deployment as the workload view reads it, as the API server sends it: only the fields
read (the instance's own body is `api.wire`'s).

Typed for the reader; nothing checks them at run time (a view reads each field with a
default, and validates spec and status with the API models).
"""

from __future__ import annotations

from typing import TypedDict

from hopper_operator.api.wire import MetaBody


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
    metadata: MetaBody
    spec: DeploymentSpec
    status: DeploymentStatus
