"""One reconcile pass for a queued instance: observe, decide, render, execute; an outcome.

Reads come from Kopf's in-memory indexes (no request per reconcile); `core.reconcile`
decides the whole plan, `resources.render` spells it as requests and the executor sends
them. Every write of the instance carries the resourceVersion it was decided from, so a
decision made on a stale view fails with a conflict instead of taking an illegal step.
The pass never touches the queue: it says how it ended (`controller.outcome`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from hopper_operator.controller.executor import Executor
from hopper_operator.controller.indexes import Indexes
from hopper_operator.controller.metrics import Metrics
from hopper_operator.controller.outcome import Behind, Done, Gone, Outcome, failed
from hopper_operator.controller.records import Key, Notes, Records
from hopper_operator.core.plan import Event, Plan, one_per_pass
from hopper_operator.core.reconcile import World, advance, decide
from hopper_operator.core.views import InstanceView, instance_view, workload_view
from hopper_operator.core.world import DEFAULT_PARENT_GRACE_SECONDS
from hopper_operator.resources.render import Target, render

MAX_STEPS_PER_PASS = 4
MAX_DEPTH = 8


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Walk:
    """What one pass gathers as it goes: the Events of its steps, when to look again, and
    its notes for the key's record (which only `outcome.conclude` changes)."""

    notes: Notes
    events: list[Event] = field(default_factory=list)
    after: float | None = None

    def requeue(self, after: float | None) -> None:
        if after is not None:
            self.after = after if self.after is None else min(self.after, after)


@dataclass(frozen=True)
class Reconciler:
    executor: Executor
    indexes: Indexes
    records: Records
    metrics: Metrics | None = None
    clock: Callable[[], datetime] = _now
    parent_grace: float = DEFAULT_PARENT_GRACE_SECONDS

    async def drain(self) -> None:
        """Let Events still being posted finish (at shutdown)."""
        await self.executor.drain()

    def world(self, view: InstanceView) -> World:
        key, ancestors = view.key, list[InstanceView]()
        parent_name = view.parent_name
        while parent_name and len(ancestors) < MAX_DEPTH:
            parent = self.indexes.instance((view.namespace, parent_name))
            if parent is None:
                break
            ancestors.append(parent)
            parent_name = parent.parent_name
        children = tuple(
            child
            for name in self.indexes.children(key)
            if (child := self.indexes.instance((view.namespace, name))) is not None
        )
        return World(
            instance=view,
            ancestors=tuple(ancestors),
            children=children,
            workload=self.indexes.workload(key),
            pods=len(list(self.indexes.pods(key))),
            config_map_hash=self.indexes.config_map_hash(key),
            now=self.clock(),
            parent_grace=self.parent_grace,
        )

    async def reconcile(self, key: Key) -> Outcome:
        view = self.indexes.instance(key)
        if view is None:
            return Gone()
        if self.records[key].behind(view.resource_version):
            return Behind()
        walk = Walk(self.records.begin(key))
        try:
            await self._run(self.world(view), walk)
        except Exception as error:
            return failed(error, view.resource_version, walk.after, walk.notes)
        return Done(walk.after, walk.notes)

    async def _run(self, world: World, walk: Walk) -> None:
        """Up to MAX_STEPS_PER_PASS steps, then one Event for the steps written."""
        try:
            await self._walk(world, walk)
        except BaseException:
            walk.notes.not_at_rest()  # the echoes of what it wrote must wake
            raise
        finally:
            if walk.events:  # even when a later step failed: those before it happened
                said = Plan(events=one_per_pass(walk.events))
                await self.executor.run(render(world.instance, said, now=world.now))

    async def _walk(self, world: World, walk: Walk) -> None:
        notes = walk.notes
        for _ in range(MAX_STEPS_PER_PASS):
            plan = decide(world)
            written = await self.executor.run(
                render(world.instance, replace(plan, events=()), now=world.now)
            )
            walk.events.extend(plan.events)
            self._count_step(world, plan)
            walk.requeue(plan.requeue_after)
            body = written.get(Target.INSTANCE)
            if body is None:  # at rest as it is
                notes.at_rest(world.instance.resource_version, world.config_map_hash)
                return
            instance = instance_view(body)
            notes.wrote(instance.resource_version)
            if plan.delete_instance or (instance.deleting and not instance.finalizers):
                notes.not_at_rest()  # going: nothing left to decide on
                return
            # Decide again on what was written, a step or not (e.g. children recounted):
            # at rest, its echo then wakes nothing. Were it woken by the echo instead, a
            # recount would beget a recount for as long as the children kept changing.
            notes.at_rest(instance.resource_version)
            deployment = written.get(Target.DEPLOYMENT)
            workload = workload_view(deployment) if deployment is not None else None
            world = advance(world, plan, instance=instance, workload=workload)
        notes.not_at_rest()  # steps left over: the last one's echo wakes the next pass

    def _count_step(self, world: World, plan: Plan) -> None:
        if plan.stepped and self.metrics:
            phases = (world.instance.phase.value, plan.status.phase or world.instance.phase)
            self.metrics.transitions.labels(*phases).inc()
