"""One reconcile step, decided from what is observed: the whole brain, with no I/O.

`decide(world)` returns a `Plan`: the writes that move one instance one legal step closer
to its effective target. It is level-based: the same world gives the same plan, whatever
events came before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from hopper_operator.api.enums import (
    ConditionType,
    DesiredState,
    InstanceType,
    Phase,
    Reason,
)
from hopper_operator.api.models import HopperInstanceSpec, HopperInstanceStatus
from hopper_operator.core import lifecycle
from hopper_operator.core.conditions import Verdict, settle
from hopper_operator.core.config import (
    MAX_CONFIG_BYTES,
    canonical_json,
    config_hash,
    config_map_name,
)
from hopper_operator.core.patch import merge_patch
from hopper_operator.core.tree import (
    FINALIZER,
    PARENT_LABEL,
    ROOT_LABEL,
    SCOPE_LABEL,
    owner_reference,
)
from hopper_operator.core.verdicts import children_counts
from hopper_operator.core.verdicts import verdicts as build_verdicts
from hopper_operator.core.views import InstanceView, parse_time
from hopper_operator.core.workload import workload_hash
from hopper_operator.core.world import Lineage, Tree, World, tree_of

__all__ = ["FINALIZER", "Event", "Plan", "World", "advance", "decide"]

# How long a new child waits, silent, for a parent that is appearing or starting.
PARENT_SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    labels: dict[str, str] | None = None
    owner_references: list[dict[str, Any]] | None = None
    finalizers: list[str] | None = None
    config: dict[str, Any] | None = None
    remove_config: bool = False
    workload_replicas: int | None = None
    remove_workload: bool = False
    status_patch: dict[str, Any] | None = None
    status: HopperInstanceStatus = field(default_factory=HopperInstanceStatus)
    events: tuple[Event, ...] = ()
    delete_instance: bool = False
    requeue_after: float | None = None
    stepped: bool = False

    @property
    def metadata_patch(self) -> dict[str, Any] | None:
        patch = {
            key: value
            for key, value in (
                ("labels", self.labels),
                ("ownerReferences", self.owner_references),
                ("finalizers", self.finalizers),
            )
            if value is not None
        }
        return patch or None


def _target(world: World, spec: HopperInstanceSpec, tree: Tree) -> DesiredState:
    me = world.instance
    own = spec.state
    if tree.lineage is Lineage.OK and tree.parent is not None:
        own = lifecycle.capped_target(own, tree.parent.phase)
        if tree.parent.phase is not Phase.RUNNING and me.phase not in (Phase.RUNNING, Phase.PAUSED):
            # Reaching Paused from here means running first, and a child never runs
            # while its parent does not: wait Stopped until the parent runs again.
            own = lifecycle.lowest((own, DesiredState.STOPPED))
    expires = me.status.expires_at
    if expires is not None and world.now >= expires:
        own = DesiredState.TERMINATED
    if me.deleting:
        # Deletion walks down to Stopped, never through Terminated: an orphaned child
        # must be able to start again under a recreated parent.
        own = DesiredState.STOPPED
    return own


def _restart_pending(me: InstanceView) -> bool:
    """The restart annotation holds a token not yet carried out (compared as text, never
    as a time: two restarts within one clock tick are two restarts)."""
    token = me.restart_token
    if token is None or token == me.status.last_restart:
        return False
    if me.phase not in (Phase.RUNNING, Phase.PAUSED):
        return False
    if me.status.last_restart is None:
        # Status from before tokens were recorded: the annotation then held a time, and it
        # was carried out if the instance has started since.
        issued, started = parse_time(token), me.status.started_at
        if issued is not None and started is not None and issued <= started:
            return False
    return True


def _next_phase(
    world: World,
    spec: HopperInstanceSpec,
    tree: Tree,
    target: DesiredState,
    desired_workload: str | None,
) -> tuple[Phase | None, str]:
    """The next phase, if it may be entered now, and why the walk waits otherwise."""
    me, workload = world.instance, world.workload
    phase = me.phase
    failure = workload.failure if workload and spec.runtime else None
    if failure and phase in (Phase.STARTING, Phase.RUNNING) and not me.deleting:
        return Phase.ERROR, failure
    step = lifecycle.next_step(phase, target)
    if _restart_pending(me) and not me.deleting and target is not DesiredState.TERMINATED:
        step = Phase.STOPPING
    if step is None:
        return None, ""
    if step in lifecycle.STARTING_PHASES and tree.lineage in (Lineage.MISSING, Lineage.INVALID):
        return None, tree.problem or ""
    if phase is Phase.ERROR and step is Phase.STARTING:
        spec_changed = me.generation != me.status.observed_generation
        if failure and not spec_changed:
            return None, failure
    workload_ready = workload and workload.spec_hash == desired_workload and workload.available
    if phase is Phase.STARTING and step is Phase.RUNNING and spec.runtime and not workload_ready:
        return None, "waiting for the Deployment to become available"
    if phase is Phase.STOPPING and step is Phase.STOPPED and (workload or world.pods):
        return None, f"waiting for the workload to go ({world.pods} pods left)"
    return step, ""


def _workload_intent(
    spec: HopperInstanceSpec, phase: Phase, present: bool
) -> tuple[int | None, bool]:
    """(replicas to ensure, whether to remove it) for the phase the instance is now in."""
    if spec.runtime is None or phase in (
        Phase.CREATED,
        Phase.STOPPING,
        Phase.STOPPED,
        Phase.TERMINATED,
    ):
        return None, present
    if phase in (Phase.STARTING, Phase.RUNNING):
        return spec.runtime.replicas, False
    if phase is Phase.PAUSED:
        return 0, False
    return None, False  # Error: keep the failed Deployment to observe its recovery


def _metadata(
    world: World, spec: HopperInstanceSpec, tree: Tree, done_deleting: bool
) -> dict[str, Any]:
    me = world.instance
    labels = dict(me.labels)
    labels[SCOPE_LABEL] = spec.scope.value
    if spec.parent_name:
        labels[PARENT_LABEL] = spec.parent_name
    if tree.root:
        labels[ROOT_LABEL] = tree.root
    changes: dict[str, Any] = {}
    if labels != me.labels:
        changes["labels"] = labels
    # A parent being deleted is left alone: with --cascade=orphan the garbage collector is
    # removing this very reference, and putting it back would fight the collector.
    if tree.parent is not None and not tree.parent.deleting:
        refs = [
            r
            for r in me.owner_references
            if not (r.get("kind") == "HopperInstance" and r.get("controller"))
        ]
        refs.append(owner_reference(tree.parent.name, tree.parent.uid))
        if refs != list(me.owner_references):
            changes["owner_references"] = refs
    if me.deleting and done_deleting and FINALIZER in me.finalizers:
        changes["finalizers"] = [f for f in me.finalizers if f != FINALIZER]
    elif not me.deleting and FINALIZER not in me.finalizers:
        changes["finalizers"] = [*me.finalizers, FINALIZER]
    return changes


def _dump(status: HopperInstanceStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def status_patch(old: HopperInstanceStatus, new: HopperInstanceStatus) -> dict[str, Any] | None:
    return merge_patch(_dump(old), _dump(new)) or None


def _parent_settling(world: World, tree: Tree) -> float | None:
    """Seconds to hold a brand-new child whose parent is about to settle, else None.

    A tree applied at once (kubectl apply -k, a GitOps sync) creates children while their
    parents are still absent or starting. Writing "waiting for the parent" first costs a
    request per child and says nothing that lasts: the parent's next change wakes the
    child anyway. Past the grace period the child reports as usual.
    """
    me = world.instance
    if me.status.phase is not None or me.created_at is None or me.deleting:
        return None
    parent = tree.parent
    settling = tree.lineage is Lineage.MISSING or (
        tree.lineage is Lineage.OK
        and parent is not None
        and not parent.deleting
        and parent.phase in (Phase.CREATED, Phase.STARTING)
        and parent.spec is not None
        and parent.spec.state is DesiredState.RUNNING
    )
    remaining = PARENT_SETTLE_SECONDS - (world.now - me.created_at).total_seconds()
    return remaining if settling and remaining > 0 else None


def decide(world: World) -> Plan:
    me = world.instance
    spec = me.spec
    if spec is None:
        return _unreadable(world)
    tree = tree_of(world, spec)
    hold = _parent_settling(world, tree)
    if hold is not None:
        return Plan(requeue_after=hold)
    config_problem = None
    if tree.config is not None and len(canonical_json(tree.config).encode()) > MAX_CONFIG_BYTES:
        config_problem = f"the effective config exceeds {MAX_CONFIG_BYTES} bytes"
    config_digest = (
        config_hash(tree.config) if tree.config is not None else me.status.effective_config_hash
    )
    target = _target(world, spec, tree)
    desired_workload = (
        workload_hash(spec.runtime, spec.runtime.replicas, config_digest or "")
        if spec.runtime
        else None
    )
    step, waiting = _next_phase(world, spec, tree, target, desired_workload)
    phase = step or me.phase
    status = _next_status(world, phase, stepped=step is not None, spec=spec)
    replicas, remove_workload = _workload_intent(spec, phase, world.workload is not None)
    # Settled only once the walk is over: re-ask what the next step would be from here.
    after_step, after_waiting = (
        (None, waiting) if step is None else (lifecycle.next_step(phase, target), "")
    )
    if after_step is not None and not after_waiting:
        after_waiting = f"walking from {phase.value} towards {target.value}"
    verdicts = build_verdicts(
        world=world,
        spec=spec,
        tree=tree,
        phase=phase,
        target=target,
        waiting=after_waiting,
        config_problem=config_problem,
        desired_workload=desired_workload,
    )
    done_deleting = (
        me.deleting
        and step is None
        and world.workload is None
        and not world.pods
        and (lifecycle.satisfies(phase, target) or phase is Phase.TERMINATED)
    )
    status = replace_status(
        status,
        observed_generation=me.generation,
        conditions=settle(verdicts, list(me.status.conditions), me.generation, world.now),
        depth=tree.depth if tree.depth is not None else status.depth,
        root=tree.root or status.root,
        effective_config_hash=config_digest,
        config_map_name=config_map_name(me.name) if phase is not Phase.TERMINATED else None,
        children=children_counts(world.children),
    )
    write_config = (
        tree.config is not None
        and not me.deleting  # its namespace may be going too: create nothing new
        and config_problem is None
        and phase is not Phase.TERMINATED
        and world.config_map_hash != config_digest
    )
    meta = _metadata(world, spec, tree, done_deleting)
    return Plan(
        labels=meta.get("labels"),
        owner_references=meta.get("owner_references"),
        finalizers=meta.get("finalizers"),
        config=tree.config if write_config else None,
        remove_config=phase is Phase.TERMINATED and world.config_map_hash is not None,
        workload_replicas=replicas,
        remove_workload=remove_workload,
        status_patch=status_patch(me.status, status),
        status=status,
        events=_events(me, step, target, waiting, verdicts),
        delete_instance=(
            spec.instance_type is InstanceType.EPHEMERAL
            and not me.deleting
            and phase in (Phase.STOPPED, Phase.TERMINATED)
            and step is None
        ),
        requeue_after=_requeue_after(status, world.now),
        stepped=step is not None,
    )


def replace_status(status: HopperInstanceStatus, **changes: Any) -> HopperInstanceStatus:
    return status.model_copy(update=changes)


def _next_status(
    world: World, phase: Phase, *, stepped: bool, spec: HopperInstanceSpec
) -> HopperInstanceStatus:
    me, now = world.instance, world.now
    status = me.status
    if not stepped:
        return replace_status(status, phase=status.phase or Phase.CREATED)
    changes: dict[str, Any] = {"phase": phase}
    if phase in (Phase.STOPPING, Phase.STARTING) and me.restart_token is not None:
        # Stopping or starting carries out every restart asked for before it.
        changes["last_restart"] = me.restart_token
    if phase is Phase.RUNNING:
        changes["started_at"] = now
        if spec.ttl_seconds and status.expires_at is None:
            changes["expires_at"] = now + timedelta(seconds=spec.ttl_seconds)
    elif phase is Phase.STOPPED:
        changes["stopped_at"] = now
    elif phase is Phase.TERMINATED:
        changes["terminated_at"] = now
    return replace_status(status, **changes)


def _requeue_after(status: HopperInstanceStatus, now: datetime) -> float | None:
    if status.expires_at is None or status.phase is Phase.TERMINATED:
        return None
    return max((status.expires_at - now).total_seconds(), 0.0)


def _events(
    me: InstanceView,
    step: Phase | None,
    target: DesiredState,
    waiting: str,
    verdicts: list[Verdict],
) -> tuple[Event, ...]:
    events = []
    if step is not None:
        kind = "Warning" if step is Phase.ERROR else "Normal"
        why = waiting if step is Phase.ERROR else f"towards {target.value}"
        events.append(Event(kind, step.value, f"{me.phase.value} -> {step.value} ({why})"))
    old = {c.type: c.status for c in me.status.conditions}
    for verdict in verdicts:
        if verdict.type is ConditionType.STALLED and old.get(verdict.type.value) != "True":
            events.append(Event("Warning", verdict.reason.value, verdict.message))
    return tuple(events)


def _unreadable(world: World) -> Plan:
    me = world.instance
    verdicts = [
        Verdict(ConditionType.READY, False, Reason.WALKING, me.spec_error or "unreadable spec"),
        Verdict(ConditionType.STALLED, True, Reason.WALKING, me.spec_error or "unreadable spec"),
    ]
    status = replace_status(
        me.status,
        phase=me.phase,
        observed_generation=me.generation,
        conditions=settle(verdicts, list(me.status.conditions), me.generation, world.now),
    )
    return Plan(status_patch=status_patch(me.status, status), status=status)


def advance(world: World, plan: Plan, written: InstanceView) -> World:
    """The world after `plan` was applied, for a further step in the same pass."""
    return replace(
        world,
        instance=written,
        config_map_hash=config_hash(plan.config)
        if plan.config is not None
        else world.config_map_hash,
    )
