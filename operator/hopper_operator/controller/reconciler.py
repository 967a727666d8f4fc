"""Runs a reconcile pass for queued instances: observe, decide, render, execute.

Reads come from Kopf's in-memory indexes (no request per reconcile); `core.reconcile`
decides the whole plan, `resources.render` spells it as requests and the executor sends
them. Every write of the instance carries the resourceVersion it was decided from, so a
decision made on a stale view fails with a conflict instead of taking an illegal step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp

from hopper_operator.controller.executor import Executor, Writer
from hopper_operator.controller.metrics import Metrics, Result
from hopper_operator.controller.queue import WorkQueue
from hopper_operator.core.plan import Event, Plan, one_per_pass
from hopper_operator.core.reconcile import World, advance, decide
from hopper_operator.core.views import InstanceView, WorkloadView, instance_view, workload_view
from hopper_operator.kube.client import ConflictError, KubeError, NotFoundError, WriteRefusedError
from hopper_operator.resources.render import Target, render

logger = logging.getLogger(__name__)

Key = tuple[str, str]
# One index lookup: the values Kopf's index holds under a key.
Lookup = Callable[[Key], Iterable[Any]]

MAX_STEPS_PER_PASS = 4
MAX_DEPTH = 8
CONFLICT_RETRY_SECONDS = 0.5
REFUSED_RETRY_SECONDS = 1.0
# Failures of the API or of the way to it: retried with backoff, logged in one line.
TRANSIENT = (KubeError, aiohttp.ClientError, OSError, TimeoutError)


@dataclass(frozen=True)
class Indexes:
    """Lookups into Kopf's indexes, by what they hold."""

    instances: Lookup  # (namespace, name) -> InstanceView
    children: Lookup  # (namespace, parent name) -> child names
    workloads: Lookup  # (namespace, owner name) -> WorkloadView
    config_maps: Lookup  # (namespace, owner name) -> the config hash it holds
    pods: Lookup  # (namespace, owner name) -> pod names


@dataclass
class Decided:
    """The instance version (and ConfigMap hash) each key's last pass decided on, and left
    as it was.

    The watch echoes every write back. A pass that wrote a step decides again on what it
    wrote before it ends, so the echo of that version, or of an earlier one of ours, brings
    nothing new and need not wake another pass; nor does the ConfigMap it created, when it
    holds the hash the pass went on to decide with. Any other version or hash, a deletion,
    or a pass that ended early (waiting for that very echo) wakes one as usual.
    """

    _seen: dict[Key, tuple[int, str | None]] = field(default_factory=dict)

    def mark(self, key: Key, resource_version: str, config_map_hash: str | None = None) -> None:
        self._seen[key] = (_revision(resource_version), config_map_hash)

    def forget(self, key: Key) -> None:
        self._seen.pop(key, None)

    def covers(self, key: Key, resource_version: str) -> bool:
        revision = _revision(resource_version)
        return 0 < revision <= self._seen.get(key, (0, None))[0]

    def holds_config(self, key: Key, config_map_hash: str | None) -> bool:
        decided = self._seen.get(key, (0, None))[1]
        return decided is not None and decided == config_map_hash


def _first(values: Iterable[Any]) -> Any:
    return next(iter(values), None)


@dataclass
class Reconciler:
    kube: Writer
    indexes: Indexes
    metrics: Metrics | None = None
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(microsecond=0)
    # resourceVersions we wrote and have not yet seen come back through the watch.
    _expected: dict[Key, int] = field(default_factory=dict)
    decided: Decided = field(default_factory=Decided)
    # The revision each failing key failed at: a newer one from the watch resets its backoff.
    _failed_at: dict[Key, int] = field(default_factory=dict)
    executor: Executor = field(init=False)

    def __post_init__(self) -> None:
        self.executor = Executor(self.kube)

    async def drain(self) -> None:
        """Let Events still being posted finish (at shutdown)."""
        await self.executor.drain()

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
        if view is None:  # gone: the only way out of the queue besides success
            self.decided.forget(key)
            self._expected.pop(key, None)
            self._failed_at.pop(key, None)
            self.queue.forget(key)
            return
        if _revision(view.resource_version) < self._expected.get(key, 0):
            # Our own last write has not reached the index yet: its echo must requeue.
            self.decided.forget(key)
            return
        self._expected.pop(key, None)
        started, result = time.monotonic(), Result.SUCCESS
        try:
            await self._run(self.world(view))
        except ConflictError:
            result = Result.REQUEUE
            self.queue.add(key, CONFLICT_RETRY_SECONDS)  # the watch brings the news meanwhile
        except WriteRefusedError:
            # No longer sure to lead: the workers are being stopped; whoever leads next
            # takes it (after a pause, so that a worker not yet stopped does not spin on it).
            result = Result.REQUEUE
            self.queue.add(key, REFUSED_RETRY_SECONDS)
        except NotFoundError as error:
            # Mostly the instance itself, gone once its finalizer was released: the retry
            # finds it so and ends. Else (its namespace going, say) it is retried like any.
            result = Result.REQUEUE
            self._retry(key, view, error, level=logging.DEBUG)
        except TRANSIENT as error:
            result = Result.ERROR
            self._retry(key, view, error)
        except Exception as error:
            result = Result.ERROR
            logger.exception("unexpected error reconciling %s/%s", *key)
            if self.metrics:
                self.metrics.unexpected_errors.labels(type(error).__name__).inc()
            self._retry(key, view, error)
        else:
            self._failed_at.pop(key, None)
            self.queue.forget(key)
        finally:
            if self.metrics:
                self.metrics.reconciled(result, time.monotonic() - started)

    def fresh_version(self, key: Key, resource_version: str) -> None:
        """The watch brought `key` (and queues it now): if it is newer than the version
        that last failed, forget the failures (a new spec deserves a fresh start)."""
        failed_at = self._failed_at.get(key)
        if failed_at is not None and _revision(resource_version) > failed_at:
            del self._failed_at[key]
            self.queue.forget(key)

    def _retry(
        self, key: Key, view: InstanceView, error: Exception, level: int = logging.WARNING
    ) -> None:
        # What we wrote ourselves before failing is not news: it must not reset the backoff.
        self._failed_at[key] = max(_revision(view.resource_version), self._expected.get(key, 0))
        delay = self.queue.retry(key, getattr(error, "retry_after", None))
        logger.log(level, "reconcile of %s/%s failed (%r); retry in %.1fs", *key, error, delay)

    async def _run(self, world: World) -> None:
        """Up to MAX_STEPS_PER_PASS steps, then one Event for the steps written."""
        told: list[Event] = []
        try:
            await self._walk(world, told)
        except BaseException:
            self.decided.forget(world.instance.key)  # the echoes of what it wrote must wake
            raise
        finally:
            if told:  # even when a later step failed: those before it happened
                notes = Plan(events=one_per_pass(told))
                await self.executor.run(render(world.instance, notes, now=world.now))

    async def _walk(self, world: World, told: list[Event]) -> None:
        key = world.instance.key
        for _ in range(MAX_STEPS_PER_PASS):
            plan = decide(world)
            written = await self.executor.run(
                render(world.instance, replace(plan, events=()), now=world.now)
            )
            told.extend(plan.events)
            if plan.stepped and self.metrics:
                phases = (world.instance.phase.value, plan.status.phase or world.instance.phase)
                self.metrics.transitions.labels(*phases).inc()
            if plan.requeue_after is not None:
                self.queue.add(key, plan.requeue_after)
            body = written.get(Target.INSTANCE)
            if body is None:
                # At rest as it is.
                self.decided.mark(key, world.instance.resource_version, world.config_map_hash)
                return
            instance = instance_view(body)
            self._expected[key] = _revision(instance.resource_version)
            if plan.delete_instance or (instance.deleting and not instance.finalizers):
                self.decided.forget(key)  # going: nothing left to decide on
                return
            # Decide again on what was written, a step or not (e.g. children recounted):
            # at rest, its echo then wakes nothing. Were it woken by the echo instead, a
            # recount would beget a recount for as long as the children kept changing.
            self.decided.mark(key, instance.resource_version)
            deployment = written.get(Target.DEPLOYMENT)
            workload = workload_view(deployment) if deployment is not None else None
            world = advance(world, plan, instance=instance, workload=workload)
        self.decided.forget(key)  # steps left over: the last one's echo wakes the next pass


def _revision(resource_version: str) -> int:
    # resourceVersions are opaque by contract but etcd revisions in every real apiserver;
    # an unparsable one disables the wait rather than blocking forever.
    try:
        return int(resource_version)
    except ValueError:
        return 0
