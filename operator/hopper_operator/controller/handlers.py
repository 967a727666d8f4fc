"""Kopf handlers: each turns a watch event into index entries or queued keys, nothing more.

Handlers take Kopf's keyword arguments through `**kwargs` where Kopf's protocols type them
more loosely than we use them (a namespaced resource always has a namespace).
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import kopf

from hopper_operator import GROUP, PLURAL, VERSION
from hopper_operator.api.enums import Phase
from hopper_operator.controller.metrics import Metrics
from hopper_operator.controller.metrics_server import serve_metrics
from hopper_operator.controller.reconciler import CHILDREN_REFRESH_SECONDS, Indexes, Key, Reconciler
from hopper_operator.controller.settings import Settings
from hopper_operator.core.views import CONFIG_HASH, InstanceView, instance_view, workload_view
from hopper_operator.kube.client import Kube, load_configuration
from hopper_operator.resources.owned import INSTANCE_LABEL

INSTANCES = (GROUP, VERSION, PLURAL)
OWNED = {INSTANCE_LABEL: kopf.PRESENT}
INDEXES = (
    "hopper_instances",
    "hopper_children",
    "hopper_workloads",
    "hopper_config_maps",
    "hopper_pods",
)


def _key(body: kopf.Body) -> Key:
    return (body.metadata.namespace or "", body.metadata.name or "")


def _owner_key(body: kopf.Body) -> Key:
    return (body.metadata.namespace or "", body.metadata.labels[INSTANCE_LABEL])


@kopf.index(*INSTANCES)
async def hopper_instances(*, body: kopf.Body, **_: Any) -> dict[Key, InstanceView]:
    return {_key(body): instance_view(body)}


@kopf.index(*INSTANCES)
async def hopper_children(*, body: kopf.Body, **_: Any) -> dict[Key, str] | None:
    namespace, name = _key(body)
    parent = (body.spec.get("parentRef") or {}).get("name")
    return {(namespace, parent): name} if parent else None


@kopf.index("apps", "v1", "deployments", labels=OWNED)
async def hopper_workloads(*, body: kopf.Body, **_: Any) -> dict[Key, Any]:
    return {_owner_key(body): workload_view(body)}


@kopf.index("", "v1", "configmaps", labels=OWNED)
async def hopper_config_maps(*, body: kopf.Body, **_: Any) -> dict[Key, str | None]:
    return {_owner_key(body): body.metadata.annotations.get(CONFIG_HASH)}


@kopf.index("", "v1", "pods", labels=OWNED)
async def hopper_pods(*, body: kopf.Body, **_: Any) -> dict[Key, str | None]:
    return {_owner_key(body): body.metadata.name}


def _lookup(index: kopf.Index[Key, Any]) -> Any:
    return lambda key: index.get(key, ())


@kopf.on.startup()
async def start(*, memo: kopf.Memo, settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    options: Settings = memo.get("options") or Settings()
    options.apply(settings)
    kube = Kube(await load_configuration())
    lookups = [_lookup(kwargs[name]) for name in INDEXES]
    reconciler = Reconciler(kube=kube, indexes=Indexes(*lookups))
    every_instance = kwargs["hopper_instances"]
    reconciler.metrics = Metrics(
        instances=lambda: (view for store in every_instance.values() for view in store),
        queue_depth=lambda: len(reconciler.queue),
        workers=options.workers,
    )
    reconciler.queue.observer = reconciler.metrics.queue
    memo["metrics_server"] = await serve_metrics(options, kube, reconciler.metrics)
    memo["kube"], memo["reconciler"], memo["signatures"] = kube, reconciler, {}
    memo["children_index"] = kwargs["hopper_children"]
    memo["workers"] = [
        asyncio.create_task(reconciler.queue.serve(reconciler.reconcile))
        for _ in range(options.workers)
    ]


@kopf.on.cleanup()
async def stop(*, memo: kopf.Memo, **_: Any) -> None:
    workers = memo.get("workers", ())
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    if "reconciler" in memo:
        await memo["reconciler"].drain()
    if memo.get("metrics_server"):
        await memo["metrics_server"].cleanup()
    if "kube" in memo:
        await memo["kube"].close()


class Signature(NamedTuple):
    """What children read of their parent: a change in any of it wakes them."""

    uid: str
    deleting: bool
    phase: Phase
    ready: str | None
    effective_config_hash: str | None
    config: Any


def _signature(view: InstanceView) -> Signature:
    ready = view.status.condition("Ready")
    return Signature(
        uid=view.uid,
        deleting=view.deleting,
        phase=view.phase,
        ready=ready.status if ready else None,
        effective_config_hash=view.status.effective_config_hash,
        config=view.spec.config if view.spec else None,
    )


@kopf.on.event(*INSTANCES)
async def instance_event(
    *,
    type: str,
    body: kopf.Body,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    queue = memo["reconciler"].queue
    signatures: dict[Key, Signature] = memo["signatures"]
    key, gone = _key(body), type == "DELETED"
    # The index parsed this very body a moment ago; only a deleted object is not there.
    indexed = kwargs["hopper_instances"].get(key, ())
    view = next(iter(indexed), None) or instance_view(body)
    before = signatures.pop(key, None) if gone else signatures.get(key)
    after = None if gone else _signature(view)
    if after is not None:
        signatures[key] = after
        queue.add(key)
    if after != before:
        for child in memo["children_index"].get(key, ()):
            queue.add((key[0], child))
    # The parent counts its children by phase: refresh it, in batches.
    if view.parent_name and (after is None or before is None or before.phase != after.phase):
        queue.add((key[0], view.parent_name), CHILDREN_REFRESH_SECONDS)


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("", "v1", "configmaps", labels=OWNED)
@kopf.on.event("", "v1", "pods", labels=OWNED)
async def owned_event(*, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo["reconciler"].queue.add(_owner_key(body))
