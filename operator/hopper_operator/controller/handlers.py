"""Kopf handlers: each turns a watch event into index entries or queued keys, nothing more.

Kopf passes indexes and the memo by keyword: the handlers name the ones they use, typed.
Kopf's handler protocols cannot say that an index arrives by its function's name, hence
the two `type: ignore[arg-type]` below. Handlers take the rest through `**_`.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

import kopf

from hopper_operator.api.meta import GROUP, PLURAL, VERSION, Annotation, Label
from hopper_operator.controller.context import Context, Running
from hopper_operator.controller.leader import LeaderElector, lease_namespace, new_identity
from hopper_operator.controller.metrics import Metrics
from hopper_operator.controller.metrics_server import serve_metrics
from hopper_operator.controller.readiness import Readiness
from hopper_operator.controller.reconciler import Indexes, Key, Reconciler
from hopper_operator.controller.wakeups import Recount, Wakeups
from hopper_operator.controller.workers import Supervisor, Workers
from hopper_operator.core.views import InstanceView, WorkloadView, instance_view, workload_view
from hopper_operator.kube.client import Kube
from hopper_operator.kube.login import shared_credentials

INSTANCES = (GROUP, VERSION, PLURAL)
OWNED: dict[str, Any] = {Label.INSTANCE: kopf.PRESENT}


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
async def hopper_instances(*, body: kopf.Body, **_: Any) -> dict[InstanceKey, InstanceView]:
    (namespace, name), view = _key(body), instance_view(body)
    entries = {(namespace, name, Role.SELF): view}
    parent = (body.spec.get("parentRef") or {}).get("name")  # even when the spec is invalid
    if parent:
        entries[(namespace, parent, Role.CHILD)] = view
    return entries


@kopf.index("apps", "v1", "deployments", labels=OWNED)
async def hopper_workloads(*, body: kopf.Body, **_: Any) -> dict[Key, WorkloadView]:
    return {_owner_key(body): workload_view(body)}


@kopf.index("", "v1", "configmaps", labels=OWNED)
async def hopper_config_maps(*, body: kopf.Body, **_: Any) -> dict[Key, str | None]:
    return {_owner_key(body): body.metadata.annotations.get(Annotation.CONFIG_HASH)}


@kopf.index("", "v1", "pods", labels=OWNED)
async def hopper_pods(*, body: kopf.Body, **_: Any) -> dict[Key, str | None]:
    return {_owner_key(body): body.metadata.name}


def _lookup(index: kopf.Index[Key, Any]) -> Any:
    return lambda key: index.get(key, ())


def _instances(index: kopf.Index[InstanceKey, InstanceView], role: Role) -> Any:
    return lambda key: index.get((*key, role), ())


def _child_names(index: kopf.Index[InstanceKey, InstanceView]) -> Any:
    return lambda key: [child.name for child in index.get((*key, Role.CHILD), ())]


@kopf.on.login()
async def login(**_: Any) -> kopf.ConnectionInfo:
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
    **_: Any,
) -> None:
    options = memo.settings
    options.apply(settings)
    identity = new_identity()
    # Two connection pools. `kube` changes the cluster: refused while not sure to lead.
    # `aside` is never refused: the Lease itself (and a renewal never queues behind the
    # workers' requests), token and access reviews of metrics callers, reads.
    aside = Kube(identity=identity)
    elector = None
    if options.leader_election:
        elector = LeaderElector(
            aside,
            namespace=lease_namespace(options.lease_namespace, list(options.namespaces)),
            name=options.lease_name,
            identity=identity,
            timings=options.lease,
        )
    kube = Kube(identity=identity, may_write=elector.leading if elector else None)
    indexes = Indexes(
        instances=_instances(hopper_instances, Role.SELF),
        children=_child_names(hopper_instances),
        workloads=_lookup(hopper_workloads),
        config_maps=_lookup(hopper_config_maps),
        pods=_lookup(hopper_pods),
    )
    reconciler = Reconciler(kube=kube, indexes=indexes)
    readiness = Readiness()
    workers = Workers(
        queue=reconciler.queue,
        handle=reconciler.reconcile,
        count=options.workers,
        keys=lambda: [key[:2] for key in hopper_instances if key[2] is Role.SELF],
        synced=readiness.wait,
    )
    supervisor = Supervisor(workers, elector, reconciler.drain)
    reconciler.metrics = Metrics(
        instances=lambda: (
            view for key, store in hopper_instances.items() if key[2] is Role.SELF for view in store
        ),
        queue_depth=lambda: len(reconciler.queue),
        workers=options.workers,
        leading=supervisor.leading,
    )
    reconciler.queue.observer = reconciler.metrics.queue
    metrics_server = await serve_metrics(options, aside, reconciler.metrics)
    if options.readiness_port:
        await readiness.serve(options.readiness_port)
    wakeups = Wakeups(
        queue=reconciler.queue,
        children=indexes.children,
        recount=Recount(reconciler.queue),
        decided=reconciler.decided,
        fresh=reconciler.fresh_version,
    )
    memo.started(
        Running(
            kube=kube,
            aside=aside,
            reconciler=reconciler,
            wakeups=wakeups,
            supervisor=supervisor,
            readiness=readiness,
            background=(asyncio.create_task(readiness.check_empty(aside, options.namespaces)),),
            metrics_server=metrics_server,
        )
    )
    supervisor.start()


@kopf.on.cleanup()
async def stop(*, memo: Context, **_: Any) -> None:
    running = memo.stopped()
    if running is None:
        return
    await running.supervisor.shutdown()
    for task in running.background:
        task.cancel()
    if running.metrics_server is not None:
        await running.metrics_server.cleanup()
    await running.readiness.close()
    await running.kube.close()
    await running.aside.close()


@kopf.on.event(*INSTANCES)  # type: ignore[arg-type]
async def instance_event(
    *,
    type: str,
    body: kopf.Body,
    memo: Context,
    hopper_instances: kopf.Index[InstanceKey, InstanceView],
    **_: Any,
) -> None:
    # The index parsed this very body a moment ago; only a deleted object is not there.
    indexed = hopper_instances.get((*_key(body), Role.SELF), ())
    view = next(iter(indexed), None) or instance_view(body)
    memo.running.readiness.mark_synced()  # Kopf handles no event before every index is filled
    memo.running.wakeups.instance(view, gone=type == "DELETED")


@kopf.on.event("", "v1", "configmaps", labels=OWNED)
async def config_map_event(*, type: str, body: kopf.Body, memo: Context, **_: Any) -> None:
    digest = body.metadata.annotations.get(Annotation.CONFIG_HASH)
    memo.running.wakeups.config_map(_owner_key(body), digest, gone=type == "DELETED")


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("", "v1", "pods", labels=OWNED)
async def owned_event(*, body: kopf.Body, memo: Context, **_: Any) -> None:
    memo.running.readiness.mark_synced()
    memo.running.wakeups.owned(_owner_key(body))
