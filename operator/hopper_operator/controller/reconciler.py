"""Runs `core.reconcile.decide` for queued instances and carries out its plans.

Reads come from Kopf's in-memory indexes (no request per reconcile); every write carries
the resourceVersion it was decided from, so a decision made on a stale view fails with a
conflict instead of taking an illegal step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hopper_operator.controller.metrics import Metrics, Result
from hopper_operator.controller.queue import WorkQueue
from hopper_operator.core.reconcile import Plan, World, advance, decide
from hopper_operator.core.views import InstanceView, WorkloadView, instance_view
from hopper_operator.kube.client import (
    ConflictError,
    Kube,
    KubeError,
    NotFoundError,
    config_map_path,
    deployment_path,
    events_path,
    instance_path,
)
from hopper_operator.resources import owned
from hopper_operator.resources.events import event

logger = logging.getLogger(__name__)

Key = tuple[str, str]
# One index lookup: the values Kopf's index holds under a key.
Lookup = Callable[[Key], Iterable[Any]]

MAX_STEPS_PER_PASS = 4
MAX_DEPTH = 8
CHILDREN_REFRESH_SECONDS = 5.0  # children counts are a summary: batch their rewrites
MAX_BACKOFF_SECONDS = 300.0


@dataclass
class Indexes:
    instances: Lookup
    children: Lookup
    workloads: Lookup
    config_maps: Lookup
    pods: Lookup


def _first(values: Iterable[Any]) -> Any:
    return next(iter(values), None)


@dataclass
class Reconciler:
    kube: Kube
    indexes: Indexes
    metrics: Metrics | None = None
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(microsecond=0)
    # resourceVersions we wrote and have not yet seen come back through the watch.
    _expected: dict[Key, int] = field(default_factory=dict)
    _failures: dict[Key, int] = field(default_factory=dict)
    _posting: set[asyncio.Task[None]] = field(default_factory=set)

    async def drain(self) -> None:
        """Let Events still being posted finish (at shutdown)."""
        await asyncio.gather(*self._posting, return_exceptions=True)

    def world(self, view: InstanceView) -> World:
        key = view.key
        ancestors: list[InstanceView] = []
        parent_name = view.parent_name
        while parent_name and len(ancestors) < MAX_DEPTH:
            parent = _first(self.indexes.instances((view.namespace, parent_name)))
            if parent is None:
                break
            ancestors.append(parent)
            parent_name = parent.parent_name
        children = tuple(
            child
            for name in self.indexes.children(key)
            if (child := _first(self.indexes.instances((view.namespace, name)))) is not None
        )
        workload: WorkloadView | None = _first(self.indexes.workloads(key))
        return World(
            instance=view,
            ancestors=tuple(ancestors),
            children=children,
            workload=workload,
            pods=len(list(self.indexes.pods(key))),
            config_map_hash=_first(self.indexes.config_maps(key)),
            now=self.clock(),
        )

    async def reconcile(self, key: Key) -> None:
        view: InstanceView | None = _first(self.indexes.instances(key))
        if view is None:
            self._expected.pop(key, None)
            self._failures.pop(key, None)
            return
        if _revision(view.resource_version) < self._expected.get(key, 0):
            return  # our own last write has not reached the index yet; its event requeues
        self._expected.pop(key, None)
        started, result = time.monotonic(), Result.SUCCESS
        try:
            await self._run(self.world(view))
        except NotFoundError:
            return  # deleted meanwhile: nothing left to reconcile
        except ConflictError:
            result = Result.REQUEUE
            self.queue.add(key, 0.5)  # someone wrote in between; the watch brings the news
        except KubeError as error:
            result = Result.ERROR
            self._retry(key, error)
        except (OSError, TimeoutError) as error:
            result = Result.ERROR
            self._retry(key, error)
        else:
            self._failures.pop(key, None)
        finally:
            if self.metrics:
                self.metrics.reconciled(result, time.monotonic() - started)

    def _retry(self, key: Key, error: Exception) -> None:
        self.queue.observer.retried()
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2**failures)
        logger.warning("reconcile of %s/%s failed (%s); retry in %.0fs", *key, error, delay)
        self.queue.add(key, delay)

    async def _run(self, world: World) -> None:
        for _ in range(MAX_STEPS_PER_PASS):
            plan = decide(world)
            written = await self._apply(world, plan)
            if plan.stepped and self.metrics:
                phases = (
                    world.instance.phase.value,
                    (plan.status.phase or world.instance.phase).value,
                )
                self.metrics.transitions.labels(*phases).inc()
            if plan.requeue_after is not None:
                self.queue.add(world.instance.key, plan.requeue_after)
            if written is None or not plan.stepped:
                return
            world = advance(world, plan, written)

    async def _apply(self, world: World, plan: Plan) -> InstanceView | None:
        """Carry out `plan`; return the instance as last written, if it was."""
        me = world.instance
        written: Mapping[str, Any] | None = None
        version = me.resource_version
        if plan.metadata_patch:
            body = {"metadata": {**plan.metadata_patch, "resourceVersion": version}}
            try:
                written = await self.kube.merge_patch(instance_path(*me.key), body)
            except NotFoundError:
                return None  # the last finalizer went and the object with it
            version = written["metadata"]["resourceVersion"]
            if me.deleting and plan.finalizers is not None:
                return None  # finalizer released: the object is gone or going now
        await self._apply_owned(world, plan)
        if plan.status_patch:
            body = {"metadata": {"resourceVersion": version}, "status": plan.status_patch}
            written = await self.kube.merge_patch(instance_path(*me.key) + "/status", body)
        for note in plan.events:
            # Events are a record, not a step: post them beside the walk, not in its way.
            task = asyncio.create_task(self._post_event(me, note.type, note.reason, note.message))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        if plan.delete_instance:
            await self.kube.delete(instance_path(*me.key))
        if written is None:
            return None
        view = instance_view(written)
        self._expected[me.key] = _revision(view.resource_version)
        return view

    async def _apply_owned(self, world: World, plan: Plan) -> None:
        me, spec = world.instance, world.instance.spec
        namespace, name = me.key
        if plan.config is not None:
            body = owned.config_map(
                instance=name, namespace=namespace, uid=me.uid, config=plan.config
            )
            path = config_map_path(namespace, owned.config_map_name(name))
            await self._create_or_apply(path, body, exists=world.config_map_hash is not None)
        if plan.remove_config:
            await self.kube.delete(config_map_path(namespace, owned.config_map_name(name)))
        if plan.remove_workload:
            await self.kube.delete(deployment_path(namespace, name))
        if plan.workload_replicas is not None and spec is not None and spec.runtime is not None:
            body = owned.deployment(
                instance=name,
                namespace=namespace,
                uid=me.uid,
                runtime=spec.runtime,
                replicas=plan.workload_replicas,
                config_digest=plan.status.effective_config_hash or "",
            )
            workload = world.workload
            if (
                workload is None
                or workload.spec_hash != body["metadata"]["annotations"][owned.SPEC_HASH]
            ):
                await self.kube.apply(deployment_path(namespace, name), body)

    async def _create_or_apply(self, path: str, body: dict[str, Any], *, exists: bool) -> None:
        """Create a ConfigMap the index has not seen, else server-side apply it.

        A plain create costs the API server less than an apply that creates. This suits
        the ConfigMap, whose fields never come and go (later applies force the same keys
        over the create's), not the Deployment, where a field dropped from the spec must
        leave. Should the index lag behind an object that exists, the create's 409 falls
        back to the apply, which is right either way.
        """
        if not exists:
            collection = path.rsplit("/", 1)[0]
            with contextlib.suppress(ConflictError):
                await self.kube.create(collection, body)
                return
        await self.kube.apply(path, body)

    async def _post_event(self, me: InstanceView, type: str, reason: str, message: str) -> None:
        body = event(
            namespace=me.namespace,
            name=me.name,
            uid=me.uid,
            type=type,
            reason=reason,
            message=message,
            now=self.clock(),
        )
        try:
            await self.kube.create(events_path(me.namespace), body)
        except KubeError as error:  # an Event is a courtesy: never fail a step over one
            logger.warning("could not post Event %s for %s: %s", reason, me.name, error)


def _revision(resource_version: str) -> int:
    # resourceVersions are opaque by contract but etcd revisions in every real apiserver;
    # an unparsable one disables the wait rather than blocking forever.
    try:
        return int(resource_version)
    except ValueError:
        return 0
