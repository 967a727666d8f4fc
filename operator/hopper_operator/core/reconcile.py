"""One reconcile step, decided from what is observed: the whole brain, with no I/O.

`decide(world)` returns a `Plan`: every write that moves one instance one legal step closer
to its effective target, owned objects included. It is level-based: the same world gives
the same plan, whatever events came before. It reads in four steps, each a function: the
course (target, next phase, why it waits: `core/course.py`), then, below, the status, the
owned objects and the metadata.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hopper_operator.api.enums import ConditionType, InstanceType, Phase, Reason
from hopper_operator.api.meta import FINALIZER, Label
from hopper_operator.api.models import HopperInstanceSpec, HopperInstanceStatus
from hopper_operator.core.conditions import Verdict, settle
from hopper_operator.core.config import (
    config_map_name,
)
from hopper_operator.core.course import (
    Course,
    EffectiveConfig,
    course_of,
    effective_config,
    parent_settling,
)
from hopper_operator.core.plan import (
    ConfigMapWrite,
    DeploymentWrite,
    Event,
    EventType,
    Metadata,
    Owner,
    Plan,
    Write,
    step_event,
)
from hopper_operator.core.verdicts import Grounds, children_counts
from hopper_operator.core.verdicts import verdicts as build_verdicts
from hopper_operator.core.views import InstanceView, OwnerReference, WorkloadView
from hopper_operator.core.workload import workload_hash
from hopper_operator.core.world import Tree, World, tree_of

__all__ = ["Plan", "World", "advance", "decide", "metadata_change"]

# Phases in which an instance with a runtime has no Deployment.
_WITHOUT_WORKLOAD = frozenset({Phase.CREATED, Phase.STOPPING, Phase.STOPPED, Phase.TERMINATED})


def decide(world: World) -> Plan:
    me = world.instance
    spec = me.spec
    if spec is None:
        return _unreadable(world)
    tree = tree_of(world, spec)
    silent_for = parent_settling(world, tree)
    if silent_for is not None:
        return Plan(requeue_after=silent_for)
    config = effective_config(world, tree)
    course = course_of(world, spec, tree, config)
    verdicts = build_verdicts(Grounds(world, spec, tree, course, config.problem))
    metadata = metadata_change(world.instance, spec, tree, done_deleting=course.done_deleting)
    status = _status(world, tree, course, config, verdicts)
    if course.done_deleting and metadata is not None:
        # The finalizer goes, and the object with it: nothing else is left to write.
        return Plan(metadata=metadata, status=status)
    return Plan(
        metadata=metadata,
        config_map=_config_map(world, course, config),
        deployment=_deployment(world, spec, course, config),
        status=status,
        status_changed=status_changed(me.status, status),
        events=_events(me, course, verdicts),
        delete_instance=_expired_ephemeral(me, spec, course),
        requeue_after=_requeue_after(status, world.now),
        stepped=course.step is not None,
    )


# --- the status ----------------------------------------------------------------------------


def _status(
    world: World,
    tree: Tree,
    course: Course,
    config: EffectiveConfig,
    verdicts: list[Verdict],
) -> HopperInstanceStatus:
    me, phase = world.instance, course.phase
    status = _next_status(world, phase, stepped=course.step is not None)
    return replace_status(
        status,
        observed_generation=me.generation,
        conditions=settle(verdicts, list(me.status.conditions), me.generation, world.now),
        depth=tree.depth if tree.depth is not None else status.depth,
        root=tree.root or status.root,
        effective_config_hash=config.digest,
        config_map_name=config_map_name(me.name) if phase is not Phase.TERMINATED else None,
        children=children_counts(world.children),
    )


def _next_status(world: World, phase: Phase, *, stepped: bool) -> HopperInstanceStatus:
    me, now = world.instance, world.now
    status = me.status
    if not stepped:
        return replace_status(status, phase=status.phase or Phase.CREATED)
    changes: dict[str, object] = {"phase": phase}
    if phase in (Phase.STOPPING, Phase.STARTING):
        # Stopping or starting carries out every restart asked for before it. "" when none
        # was: a recorded value, even empty, tells this status from one written before
        # tokens were recorded, so a later annotation is never judged as an old time.
        changes["last_restart"] = me.restart_token or ""
    if phase is Phase.RUNNING:
        changes["started_at"] = now
        ttl = me.spec.ttl_seconds if me.spec else None
        if ttl and status.expires_at is None:
            changes["expires_at"] = now + timedelta(seconds=ttl)
    elif phase is Phase.STOPPED:
        changes["stopped_at"] = now
    elif phase is Phase.TERMINATED:
        changes["terminated_at"] = now
    return replace_status(status, **changes)


def replace_status(status: HopperInstanceStatus, **changes: object) -> HopperInstanceStatus:
    return status.model_copy(update=changes)


def status_changed(old: HopperInstanceStatus, new: HopperInstanceStatus) -> bool:
    """Whether writing `new` over `old` changes anything the API server keeps."""
    return stored(old) != stored(new)


def stored(status: HopperInstanceStatus) -> dict[str, object]:
    """The status as the API server keeps it (unset fields absent)."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def _requeue_after(status: HopperInstanceStatus, now: datetime) -> float | None:
    if status.expires_at is None or status.phase is Phase.TERMINATED:
        return None
    return max((status.expires_at - now).total_seconds(), 0.0)


def _events(me: InstanceView, course: Course, verdicts: list[Verdict]) -> tuple[Event, ...]:
    events = []
    step = course.step
    if step is not None:
        failed = step is Phase.ERROR
        why = course.waiting if failed else f"towards {course.target.value}"
        events.append(step_event((me.phase, step), why, failed=failed))
    old = {c.type: c.status for c in me.status.conditions}
    for verdict in verdicts:
        if verdict.type is ConditionType.STALLED and old.get(verdict.type) != "True":
            events.append(Event(EventType.WARNING, verdict.reason.value, verdict.message))
    return tuple(events)


def _unreadable(world: World) -> Plan:
    """A spec the models reject (the CRD schema lets it through): say so, change nothing."""
    me = world.instance
    message = me.spec_error or "unreadable spec"
    verdicts = [
        Verdict(ConditionType.READY, False, Reason.INVALID_SPEC, message),
        Verdict(ConditionType.STALLED, True, Reason.INVALID_SPEC, message),
    ]
    status = replace_status(
        me.status,
        phase=me.phase,
        observed_generation=me.generation,
        conditions=settle(verdicts, list(me.status.conditions), me.generation, world.now),
    )
    return Plan(status=status, status_changed=status_changed(me.status, status))


# --- the owned objects ---------------------------------------------------------------------


def _config_map(world: World, course: Course, config: EffectiveConfig) -> ConfigMapWrite | None:
    exists = world.config_map_hash is not None
    if course.phase is Phase.TERMINATED:
        return ConfigMapWrite(Write.DELETE) if exists else None
    if (
        config.values is None
        or world.instance.deleting  # its namespace may be going too: create nothing new
        or config.problem is not None
        or world.config_map_hash == config.digest
    ):
        return None
    return ConfigMapWrite(Write.ENSURE, config.values, config.digest, exists=exists)


def _deployment(
    world: World, spec: HopperInstanceSpec, course: Course, config: EffectiveConfig
) -> DeploymentWrite | None:
    runtime, phase = spec.runtime, course.phase
    if runtime is None or phase in _WITHOUT_WORKLOAD:
        return DeploymentWrite(Write.DELETE) if world.workload is not None else None
    if phase is Phase.ERROR:
        return None  # keep the failed Deployment to observe its recovery
    replicas = 0 if phase is Phase.PAUSED else runtime.replicas
    digest = config.digest or ""
    current = world.workload
    if current is not None and current.spec_hash == workload_hash(runtime, replicas, digest):
        return None
    return DeploymentWrite(Write.ENSURE, runtime, replicas, digest)


def _expired_ephemeral(me: InstanceView, spec: HopperInstanceSpec, course: Course) -> bool:
    return (
        spec.instance_type is InstanceType.EPHEMERAL
        and not me.deleting
        and course.phase in (Phase.STOPPED, Phase.TERMINATED)
        and course.step is None
    )


# --- the metadata --------------------------------------------------------------------------


def metadata_change(
    me: InstanceView, spec: HopperInstanceSpec, tree: Tree, *, done_deleting: bool
) -> Metadata | None:
    """What changes in labels, the controller reference and the finalizer, or None.

    Public for the mutating webhook, which stamps exactly this on a create.
    """
    labels = dict(me.labels)
    labels[Label.SCOPE] = spec.scope.value
    if spec.parent_name:
        labels[Label.PARENT] = spec.parent_name
    if tree.root:
        labels[Label.ROOT] = tree.root
    owner = None
    # A parent being deleted is left alone: with --cascade=orphan the garbage collector is
    # removing this very reference, and putting it back would fight the collector.
    if tree.parent is not None and not tree.parent.deleting:
        owner = Owner(tree.parent.name, tree.parent.uid)
        owner = None if _names_controller(me.owner_references, owner) else owner
    finalizer = None
    if me.deleting and done_deleting and FINALIZER in me.finalizers:
        finalizer = False
    elif not me.deleting and FINALIZER not in me.finalizers:
        finalizer = True
    changed = Metadata(labels if labels != me.labels else None, owner, finalizer)
    return changed if changed != Metadata() else None


def _names_controller(refs: tuple[OwnerReference, ...], owner: Owner) -> bool:
    """`refs` end with the controller reference to `owner` and name no other controller."""
    others = tuple(ref for ref in refs if not ref.instance_controller)
    return refs == (*others, OwnerReference.to_instance(owner.name, owner.uid))


# --- the next step in the same pass ----------------------------------------------------------


def advance(
    world: World,
    plan: Plan,
    *,
    instance: InstanceView,
    workload: WorkloadView | None,
) -> World:
    """The world after `plan` was carried out, from what the API server returned.

    `workload` is the Deployment as the apply returned it, if the plan applied one.
    """
    config_map_hash = world.config_map_hash
    if plan.config_map is not None:
        deleted = plan.config_map.write is Write.DELETE
        config_map_hash = None if deleted else plan.config_map.digest
    if plan.deployment is None:
        workload = world.workload
    elif plan.deployment.write is Write.DELETE:
        workload = None
    return replace(world, instance=instance, config_map_hash=config_map_hash, workload=workload)
