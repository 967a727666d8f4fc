"""A plan, said as requests: method, path, body and precondition, in the order to send them.

Pure: `decide` chose every change; this spells each one for the API server, choosing the
method (a merge patch of the instance, create or apply of an owned object, with a fallback
when the create finds the object). The controller sends the requests one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hopper_operator.core.config import config_map_name
from hopper_operator.core.plan import ConfigMapWrite, DeploymentWrite, Plan, Write
from hopper_operator.core.views import InstanceView
from hopper_operator.resources import owned
from hopper_operator.resources.events import event
from hopper_operator.resources.patches import JsonMapping, metadata_patch, status_patch
from hopper_operator.resources.paths import (
    config_map_path,
    deployment_path,
    events_path,
    instance_path,
)


class Method(StrEnum):
    """How a request writes: one of the client's write methods."""

    CREATE = "create"  # POST to the collection; 409 when it exists
    MERGE_PATCH = "merge-patch"
    APPLY = "apply"  # server-side apply, forced: the operator owns these fields
    DELETE = "delete"  # an object already gone counts as deleted


class Target(StrEnum):
    """Which object a request writes: the executor hands back the last response of each."""

    INSTANCE = "instance"
    CONFIG_MAP = "configmap"
    DEPLOYMENT = "deployment"
    EVENT = "event"


@dataclass(frozen=True)
class Request:
    method: Method
    path: str
    target: Target
    body: JsonMapping | None = None  # of a DELETE: its DeleteOptions' preconditions
    # The resourceVersion the write was decided from: the API server refuses it (409) if
    # the object changed since. A later write of the same target carries the version the
    # earlier one returned, as only our own write came in between.
    precondition: str | None = None
    # Sent instead when this one fails with 409 (a create racing the index).
    fallback: Request | None = None


@dataclass(frozen=True)
class Requests:
    writes: tuple[Request, ...]  # in order; a failure stops the rest
    events: tuple[Request, ...]  # a record, not a step: posted beside the writes


def render(instance: InstanceView, plan: Plan, *, now: datetime) -> Requests:
    namespace, name = instance.key
    path = instance_path(namespace, name)
    version = instance.resource_version
    writes: list[Request] = []
    if plan.metadata is not None:
        body = {"metadata": metadata_patch(instance, plan.metadata)}
        writes.append(Request(Method.MERGE_PATCH, path, Target.INSTANCE, body, version))
    if plan.config_map is not None:
        writes.append(_config_map(instance, plan.config_map))
    if plan.deployment is not None:
        writes.append(_deployment(instance, plan.deployment))
    if plan.status_changed:
        body = {"status": status_patch(instance.status, plan.status)}
        writes.append(Request(Method.MERGE_PATCH, f"{path}/status", Target.INSTANCE, body, version))
    if plan.delete_instance:
        # Only the object decided on: not a newer version, nor one recreated under the name.
        options: JsonMapping = {"preconditions": {"uid": instance.uid}}
        writes.append(Request(Method.DELETE, path, Target.INSTANCE, options, version))
    events = tuple(
        Request(
            Method.CREATE,
            events_path(namespace),
            Target.EVENT,
            event(
                namespace=namespace,
                name=name,
                uid=instance.uid,
                type=note.type.value,
                reason=note.reason,
                message=note.message,
                now=now,
            ),
        )
        for note in plan.events
    )
    return Requests(tuple(writes), events)


def _config_map(instance: InstanceView, write: ConfigMapWrite) -> Request:
    namespace, name = instance.key
    path = config_map_path(namespace, config_map_name(name))
    if write.write is Write.DELETE:
        return Request(Method.DELETE, path, Target.CONFIG_MAP)
    body = owned.config_map(
        instance=name, namespace=namespace, uid=instance.uid, config=dict(write.config)
    )
    apply = Request(Method.APPLY, path, Target.CONFIG_MAP, body)
    if write.exists:
        return apply
    # A plain create costs the API server less than an apply that creates. This suits the
    # ConfigMap, whose fields never come and go (later applies force the same keys over
    # the create's), not the Deployment, where a field dropped from the spec must leave.
    # Should the index lag behind an object that exists, the 409 falls back to the apply.
    return Request(
        Method.CREATE, config_map_path(namespace), Target.CONFIG_MAP, body, fallback=apply
    )


def _deployment(instance: InstanceView, write: DeploymentWrite) -> Request:
    namespace, name = instance.key
    path = deployment_path(namespace, name)
    if write.write is Write.DELETE:
        return Request(Method.DELETE, path, Target.DEPLOYMENT)
    if write.runtime is None:
        raise ValueError(f"a Deployment for {name} needs a runtime")
    body = owned.deployment(
        instance=name,
        namespace=namespace,
        uid=instance.uid,
        runtime=write.runtime,
        replicas=write.replicas,
        config_digest=write.config_digest,
    )
    return Request(Method.APPLY, path, Target.DEPLOYMENT, body)
