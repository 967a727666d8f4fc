"""The conditions an instance reports: Ready, ParentReady, WorkloadAvailable, kstatus's pair."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hopper_operator.api.enums import ConditionType, Phase, Reason
from hopper_operator.api.models import ChildCounts, HopperInstanceSpec
from hopper_operator.core import lifecycle
from hopper_operator.core.conditions import Verdict
from hopper_operator.core.course import Course
from hopper_operator.core.views import InstanceView
from hopper_operator.core.world import Lineage, Tree, World


@dataclass(frozen=True)
class Grounds:
    """What the conditions are judged on: what is observed, and where this step goes."""

    world: World
    spec: HopperInstanceSpec
    tree: Tree
    course: Course
    config_problem: str | None


def parent_verdict(tree: Tree) -> Verdict:
    kind = ConditionType.PARENT_READY
    if tree.lineage is Lineage.ROOT:
        return Verdict(kind, True, Reason.ROOT_INSTANCE, "a root instance has no parent")
    if tree.lineage is Lineage.MISSING:
        return Verdict(kind, False, Reason.PARENT_NOT_FOUND, tree.problem or "")
    if tree.lineage is Lineage.INVALID:
        return Verdict(kind, False, Reason.PARENT_SCOPE_INVALID, tree.problem or "")
    assert tree.parent is not None
    if tree.parent.ready == "True":
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


def workload_verdict(grounds: Grounds) -> Verdict:
    kind, workload = ConditionType.WORKLOAD_AVAILABLE, grounds.world.workload
    phase, desired_workload = grounds.course.phase, grounds.course.desired_workload
    if workload is None:
        return Verdict(kind, False, Reason.NO_DEPLOYMENT, f"no Deployment while {phase.value}")
    if workload.failure:
        return Verdict(kind, False, Reason.DEPLOYMENT_FAILED, workload.failure)
    if phase is Phase.PAUSED:
        return Verdict(kind, False, Reason.SCALED_TO_ZERO, "paused: scaled to zero")
    if workload.spec_hash == desired_workload and workload.available:
        return Verdict(
            kind,
            True,
            Reason.DEPLOYMENT_AVAILABLE,
            f"{workload.available_replicas} replicas available",
        )
    return Verdict(
        kind,
        False,
        Reason.DEPLOYMENT_PROGRESSING,
        f"{workload.available_replicas}/{workload.replicas} replicas available",
    )


def verdicts(grounds: Grounds) -> list[Verdict]:
    world, tree, config_problem = grounds.world, grounds.tree, grounds.config_problem
    phase, target = grounds.course.phase, grounds.course.target
    waiting = grounds.course.unsettled  # not at rest after this step, and why
    parent = parent_verdict(tree)
    verdicts = [parent]
    workload_ok = True
    if grounds.spec.runtime is not None:
        workload = workload_verdict(grounds)
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
        stall = (Reason.DEPLOYMENT_FAILED, failure or "the workload failed")
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
            ConditionType.READY, False, Reason.DEPLOYMENT_PROGRESSING, "waiting for the workload"
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


def children_counts(children: tuple[InstanceView, ...]) -> ChildCounts | None:
    if not children:
        return None
    counts = Counter(child.phase.value for child in children)
    return ChildCounts(total=len(children), by_phase=dict(sorted(counts.items())))
