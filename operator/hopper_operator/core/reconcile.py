"""One reconcile step, decided from what is observed: the whole brain, with no I/O.

`decide(world)` returns a `Plan`: the writes that move one instance one legal step closer
to its effective target. It is level-based: the same world gives the same plan, whatever
events came before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from hopper_operator.api.enums import (
    ConditionType,
    DesiredState,
    InstanceType,
    Phase,
    Reason,
)
from hopper_operator.api.models import ChildCounts, HopperInstanceSpec, HopperInstanceStatus
from hopper_operator.core import lifecycle
from hopper_operator.core.conditions import Verdict, settle
from hopper_operator.core.config import (
    MAX_CONFIG_BYTES,
    canonical_json,
    config_hash,
    effective_config,
)
from hopper_operator.core.tree import parent_scope_error
from hopper_operator.core.views import InstanceView, WorkloadView
from hopper_operator.core.workload import workload_hash

FINALIZER = "hopper.dev/finalizer"
SCOPE_LABEL = "hopper.dev/scope"
PARENT_LABEL = "hopper.dev/parent"
ROOT_LABEL = "hopper.dev/root"
# How long a new child waits, silent, for a parent that is appearing or starting.
PARENT_SETTLE_SECONDS = 2.0


class Lineage(Enum):
    ROOT = "root"
    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"


@dataclass(frozen=True)
class World:
    """Everything observed about one instance, all from in-memory indexes."""

    instance: InstanceView
    ancestors: tuple[InstanceView, ...]  # parent first, as far up as the index knows
    children: tuple[InstanceView, ...]
    workload: WorkloadView | None
    pods: int
    config_map_hash: str | None
    now: datetime


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


@dataclass(frozen=True)
class _Tree:
    lineage: Lineage
    parent: InstanceView | None
    root: str | None
    depth: int | None
    config: dict[str, Any] | None  # None while an ancestor is missing
    problem: str | None


def _tree(world: World, spec: HopperInstanceSpec) -> _Tree:
    me = world.instance
    if spec.parent_name is None:
        return _Tree(Lineage.ROOT, None, me.name, 0, dict(spec.config), None)
    if not world.ancestors or world.ancestors[0].name != spec.parent_name:
        return _Tree(
            Lineage.MISSING,
            None,
            None,
            None,
            None,
            f"parent {spec.parent_name} not found in namespace {me.namespace}; waiting for it",
        )
    parent = world.ancestors[0]
    error = parent_scope_error(spec.scope, parent.spec.scope) if parent.spec else "unreadable"
    chain = (me, *world.ancestors)
    top = chain[-1]
    complete = top.spec is not None and top.parent_name is None
    configs = [v.spec.config for v in reversed(chain) if v.spec]
    return _Tree(
        Lineage.INVALID if error else Lineage.OK,
        parent,
        top.name if complete else None,
        len(world.ancestors) if complete else None,
        effective_config(configs) if complete else None,
        error,
    )


def _target(world: World, spec: HopperInstanceSpec, tree: _Tree) -> DesiredState:
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
    started = me.status.started_at
    return (
        me.restarted_at is not None
        and me.phase in (Phase.RUNNING, Phase.PAUSED)
        and (started is None or me.restarted_at > started)
    )


def _next_phase(
    world: World,
    spec: HopperInstanceSpec,
    tree: _Tree,
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
    world: World, spec: HopperInstanceSpec, tree: _Tree, done_deleting: bool
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
        refs.append(_owner(tree.parent))
        if refs != list(me.owner_references):
            changes["owner_references"] = refs
    if me.deleting and done_deleting and FINALIZER in me.finalizers:
        changes["finalizers"] = [f for f in me.finalizers if f != FINALIZER]
    elif not me.deleting and FINALIZER not in me.finalizers:
        changes["finalizers"] = [*me.finalizers, FINALIZER]
    return changes


def _owner(parent: InstanceView) -> dict[str, Any]:
    return {
        "apiVersion": "hopper.dev/v1alpha1",
        "kind": "HopperInstance",
        "name": parent.name,
        "uid": parent.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _parent_verdict(tree: _Tree) -> Verdict:
    kind = ConditionType.PARENT_READY
    if tree.lineage is Lineage.ROOT:
        return Verdict(kind, True, Reason.NOT_A_CHILD, "a root instance has no parent")
    if tree.lineage is Lineage.MISSING:
        return Verdict(kind, False, Reason.PARENT_NOT_FOUND, tree.problem or "")
    if tree.lineage is Lineage.INVALID:
        return Verdict(kind, False, Reason.PARENT_SCOPE_INVALID, tree.problem or "")
    assert tree.parent is not None
    ready = tree.parent.status.condition(ConditionType.READY)
    if ready is not None and ready.status == "True":
        return Verdict(
            kind,
            True,
            Reason.PARENT_READY,
            f"parent {tree.parent.name} is {tree.parent.phase.value}",
        )
    return Verdict(
        kind,
        False,
        Reason.PARENT_NOT_RUNNING,
        f"parent {tree.parent.name} is {tree.parent.phase.value} and not Ready yet",
    )


def _workload_verdict(world: World, phase: Phase, desired_workload: str | None) -> Verdict:
    kind, workload = ConditionType.WORKLOAD_AVAILABLE, world.workload
    if workload is None:
        return Verdict(kind, False, Reason.WORKLOAD_ABSENT, f"no Deployment while {phase.value}")
    if workload.failure:
        return Verdict(kind, False, Reason.WORKLOAD_FAILED, workload.failure)
    if phase is Phase.PAUSED:
        return Verdict(kind, False, Reason.WORKLOAD_SCALED_DOWN, "paused: scaled to zero")
    if workload.spec_hash == desired_workload and workload.available:
        return Verdict(
            kind,
            True,
            Reason.WORKLOAD_AVAILABLE,
            f"{workload.available_replicas} replicas available",
        )
    return Verdict(
        kind,
        False,
        Reason.WORKLOAD_PROGRESSING,
        f"{workload.available_replicas}/{workload.replicas} replicas available",
    )


def _verdicts(
    *,
    world: World,
    spec: HopperInstanceSpec,
    tree: _Tree,
    phase: Phase,
    target: DesiredState,
    waiting: str,
    config_problem: str | None,
    desired_workload: str | None,
) -> list[Verdict]:
    parent = _parent_verdict(tree)
    verdicts = [parent]
    workload_ok = True
    if spec.runtime is not None:
        workload = _workload_verdict(world, phase, desired_workload)
        verdicts.append(workload)
        workload_ok = workload.ok or phase is not Phase.RUNNING
    settled = lifecycle.satisfies(phase, target) and not waiting
    stall: tuple[Reason, str] | None = None
    if tree.lineage is Lineage.INVALID:
        stall = (Reason.PARENT_SCOPE_INVALID, tree.problem or "")
    elif config_problem:
        stall = (Reason.CONFIG_TOO_LARGE, config_problem)
    elif phase is Phase.ERROR:
        failure = world.workload.failure if world.workload else None
        stall = (Reason.WORKLOAD_FAILED, failure or "the workload failed")
    ready: Verdict
    if world.instance.deleting:
        ready = Verdict(
            ConditionType.READY,
            False,
            Reason.DELETING,
            f"deleting: walking down, now {phase.value}",
        )
    elif stall:
        ready = Verdict(ConditionType.READY, False, stall[0], stall[1])
    elif not parent.ok:
        ready = Verdict(ConditionType.READY, False, parent.reason, parent.message)
    elif not settled:
        ready = Verdict(
            ConditionType.READY,
            False,
            Reason.WALKING,
            waiting or f"walking from {phase.value} towards {target.value}",
        )
    elif not workload_ok:
        ready = Verdict(
            ConditionType.READY, False, Reason.WORKLOAD_PROGRESSING, "waiting for the workload"
        )
    else:
        ready = Verdict(
            ConditionType.READY,
            True,
            Reason.RECONCILED,
            f"{phase.value} as desired ({target.value})",
        )
    verdicts.insert(0, ready)
    if stall:
        verdicts.append(Verdict(ConditionType.STALLED, True, stall[0], stall[1]))
    elif not ready.ok:
        verdicts.append(Verdict(ConditionType.RECONCILING, True, ready.reason, ready.message))
    return verdicts


def _children(children: tuple[InstanceView, ...]) -> ChildCounts | None:
    if not children:
        return None
    counts = Counter(child.phase.value for child in children)
    return ChildCounts(total=len(children), by_phase=dict(sorted(counts.items())))


def _dump(status: HopperInstanceStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def merge_patch(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 JSON merge patch that turns `before` into `after`.

    Objects are diffed key by key (a removed key becomes null); anything else, lists
    included, is replaced whole.
    """
    patch: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif old != value or key not in before:
            patch[key] = value
    patch.update({key: None for key in before if key not in after})
    return patch


def status_patch(old: HopperInstanceStatus, new: HopperInstanceStatus) -> dict[str, Any] | None:
    return merge_patch(_dump(old), _dump(new)) or None


def _parent_settling(world: World, tree: _Tree) -> float | None:
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
    tree = _tree(world, spec)
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
    verdicts = _verdicts(
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
        config_map_name=f"{me.name}-config" if phase is not Phase.TERMINATED else None,
        children=_children(world.children),
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
