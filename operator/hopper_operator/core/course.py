"""The course of one step: the effective target, the next phase, and why the walk waits.

The first step of `reconcile.decide`: everything after it (status, owned objects,
metadata) follows from where the instance is going and whether it may move now.
"""

from __future__ import annotations

from dataclasses import dataclass

from hopper_operator.api.enums import DesiredState, Phase
from hopper_operator.api.meta import parse_time
from hopper_operator.api.models import HopperInstanceSpec
from hopper_operator.core import lifecycle
from hopper_operator.core.config import MAX_CONFIG_BYTES, canonical_json, config_hash
from hopper_operator.core.views import InstanceView
from hopper_operator.core.workload import workload_hash
from hopper_operator.core.world import Lineage, Tree, World


@dataclass(frozen=True)
class EffectiveConfig:
    values: dict[str, object] | None  # None while an ancestor is missing
    digest: str | None  # of `values`, else the last one recorded in status
    problem: str | None


@dataclass(frozen=True)
class Course:
    """Where this pass takes the instance, and why it goes no further."""

    target: DesiredState
    step: Phase | None  # the phase entered now, if any
    phase: Phase  # the phase after this pass
    waiting: str  # why no step is taken (or, for a step into Error, the failure)
    unsettled: str  # why the instance is not at rest after this pass; "" when it is
    desired_workload: str | None  # hash of the Deployment the spec asks for while running
    done_deleting: bool  # being deleted and nothing left to take down


def effective_config(world: World, tree: Tree) -> EffectiveConfig:
    values = tree.config
    if values is None:
        return EffectiveConfig(None, world.instance.status.effective_config_hash, None)
    problem = None
    if len(canonical_json(values).encode()) > MAX_CONFIG_BYTES:
        problem = f"the effective config exceeds {MAX_CONFIG_BYTES} bytes"
    return EffectiveConfig(values, config_hash(values), problem)


def course_of(
    world: World, spec: HopperInstanceSpec, tree: Tree, config: EffectiveConfig
) -> Course:
    me = world.instance
    target = _target(world, spec, tree)
    desired_workload = (
        workload_hash(spec.runtime, spec.runtime.replicas, config.digest or "")
        if spec.runtime
        else None
    )
    step, waiting = _next_phase(world, spec, tree, target, desired_workload)
    phase = step or me.phase
    # Settled only once the walk is over: ask what the next step would be from here.
    unsettled = waiting if step is None else ""
    if step is not None and lifecycle.next_step(phase, target) is not None:
        unsettled = f"walking from {phase.value} towards {target.value}"
    return Course(
        target=target,
        step=step,
        phase=phase,
        waiting=waiting,
        unsettled=unsettled,
        desired_workload=desired_workload,
        done_deleting=(
            me.deleting
            and step is None
            and world.workload is None
            and not world.pods
            and (lifecycle.satisfies(phase, target) or phase is Phase.TERMINATED)
        ),
    )


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
        # Status from before tokens were recorded (any start or stop records one, "" when
        # there is none): the annotation then held a time, and it was carried out if the
        # instance has started since.
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
    if step in lifecycle.STARTED_PHASES and tree.lineage in (Lineage.MISSING, Lineage.INVALID):
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


def parent_settling(world: World, tree: Tree) -> float | None:
    """Seconds a brand-new child stays silent while its parent is absent or starting, else
    None: within `world.parent_grace` (`--parent-grace-seconds`) of its creation.

    Off by default (0): the bench saw no write saved by a 10 s grace (bench/RESULTS.md,
    issue 22), since the admission webhooks mostly have a tree's parents indexed and
    Running before their children need them, and a silent child shows no status at all.
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
    remaining = world.parent_grace - (world.now - me.created_at).total_seconds()
    return remaining if settling and remaining > 0 else None
