"""Kopf handlers: each turns a watch event into index entries or queued keys, nothing more.

Kopf passes indexes and the memo by keyword: the handlers name the ones they use, typed.
Kopf's handler protocols cannot say that an index arrives by its function's name, hence
the two `type: ignore[arg-type]` below. Handlers take the rest through `**_`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum

import kopf

from hopper_operator.api.meta import GROUP, PLURAL, VERSION, Annotation, Label
from hopper_operator.controller.assembly import assemble
from hopper_operator.controller.context import Context
from hopper_operator.controller.indexes import Indexes, lookup
from hopper_operator.controller.records import Key
from hopper_operator.core.views import InstanceView, WorkloadView, instance_view, workload_view
from hopper_operator.kube.login import shared_credentials

INSTANCES = (GROUP, VERSION, PLURAL)
OWNED = {str(Label.INSTANCE): kopf.PRESENT}  # its type is not public in Kopf


def _key(body: kopf.Body) -> Key:
    return (body.metadata.namespace or "", body.metadata.name or "")


def _owner_key(body: kopf.Body) -> Key:
    return (body.metadata.namespace or "", body.metadata.labels[Label.INSTANCE])


class Role(StrEnum):
    """Under which key the instances index holds a view: one index serves both lookups
    (a second index over the same objects costs Kopf a second handler call per event)."""

    SELF = "self"  # (namespace, name, SELF): the instance
    CHILD = "child"  # (namespace, parent name, CHILD): each of the parent's children


InstanceKey = tuple[str, str, Role]


@kopf.index(*INSTANCES)
async def hopper_instances(*, body: kopf.Body, **_: object) -> dict[InstanceKey, InstanceView]:
    (namespace, name), view = _key(body), instance_view(body)
    entries = {(namespace, name, Role.SELF): view}
    parent = (body.spec.get("parentRef") or {}).get("name")  # even when the spec is invalid
    if parent:
        entries[(namespace, parent, Role.CHILD)] = view
    return entries


@kopf.index("apps", "v1", "deployments", labels=OWNED)
async def hopper_workloads(*, body: kopf.Body, **_: object) -> dict[Key, WorkloadView]:
    return {_owner_key(body): workload_view(body)}


@kopf.index("", "v1", "configmaps", labels=OWNED)
async def hopper_config_maps(*, body: kopf.Body, **_: object) -> dict[Key, str | None]:
    return {_owner_key(body): body.metadata.annotations.get(Annotation.CONFIG_HASH)}


@kopf.index("", "v1", "pods", labels=OWNED)
async def hopper_pods(*, body: kopf.Body, **_: object) -> dict[Key, str | None]:
    return {_owner_key(body): body.metadata.name}


def _as(role: Role) -> Callable[[Key], InstanceKey]:
    return lambda key: (*key, role)


def _indexes(
    instances: kopf.Index[InstanceKey, InstanceView],
    workloads: kopf.Index[Key, WorkloadView],
    config_maps: kopf.Index[Key, str | None],
    pods: kopf.Index[Key, str | None],
) -> Indexes:
    children = lookup(instances, _as(Role.CHILD))
    return Indexes(
        instances=lookup(instances, _as(Role.SELF)),
        children=lambda key: [child.name for child in children(key)],
        workloads=lookup(workloads, _same),
        config_maps=lookup(config_maps, _same),
        pods=lookup(pods, _same),
        every_instance=lambda: (
            view for key, store in instances.items() if key[2] is Role.SELF for view in store
        ),
    )


def _same(key: Key) -> Key:
    return key


@kopf.on.login()
async def login(**_: object) -> kopf.ConnectionInfo:
    # Ours rather than Kopf's fallbacks, which it picks once at import time; shared with
    # our own clients, fetched off the event loop (an exec plugin may run).
    return await shared_credentials().for_kopf()


@kopf.on.startup()  # type: ignore[arg-type]
async def start(
    *,
    memo: Context,
    settings: kopf.OperatorSettings,
    hopper_instances: kopf.Index[InstanceKey, InstanceView],
    hopper_workloads: kopf.Index[Key, WorkloadView],
    hopper_config_maps: kopf.Index[Key, str | None],
    hopper_pods: kopf.Index[Key, str | None],
    **_: object,
) -> None:
    memo.settings.apply(settings)
    indexes = _indexes(hopper_instances, hopper_workloads, hopper_config_maps, hopper_pods)
    memo.started(await assemble(memo.settings, indexes))
    memo.parts.supervisor.start()


@kopf.on.cleanup()
async def stop(*, memo: Context, **_: object) -> None:
    parts = memo.stopped()
    if parts is None:
        return
    await parts.supervisor.shutdown()
    for task in parts.background:
        task.cancel()
    # Their own cleanup (the webhook server closes its listener and client) runs now,
    # not after the event loop is gone.
    await asyncio.gather(*parts.background, return_exceptions=True)
    if parts.metrics_server is not None:
        await parts.metrics_server.cleanup()
    await parts.readiness.close()
    await parts.kube.close()
    await parts.aside.close()


@kopf.on.event(*INSTANCES)  # type: ignore[arg-type]
async def instance_event(
    *,
    type: str,
    body: kopf.Body,
    memo: Context,
    hopper_instances: kopf.Index[InstanceKey, InstanceView],
    **_: object,
) -> None:
    # The index parsed this very body a moment ago; only a deleted object is not there.
    indexed = hopper_instances.get((*_key(body), Role.SELF), ())
    view = next(iter(indexed), None) or instance_view(body)
    memo.parts.readiness.mark_synced()  # Kopf handles no event before every index is filled
    memo.parts.wakeups.instance(view, gone=type == "DELETED")


@kopf.on.event("", "v1", "configmaps", labels=OWNED)
async def config_map_event(*, type: str, body: kopf.Body, memo: Context, **_: object) -> None:
    digest = body.metadata.annotations.get(Annotation.CONFIG_HASH)
    memo.parts.wakeups.config_map(_owner_key(body), digest, gone=type == "DELETED")


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("", "v1", "pods", labels=OWNED)
async def owned_event(*, body: kopf.Body, memo: Context, **_: object) -> None:
    memo.parts.readiness.mark_synced()
    memo.parts.wakeups.owned(_owner_key(body))
