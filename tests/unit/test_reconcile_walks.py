"""decide() driven to rest for every (phase, desired state, parent, workload, deletion).

A tiny simulated world plays the API server and an ideal kubelet: what a plan writes is
observed on the next step, a Deployment asked for becomes available, one removed is gone.
Every step must be a legal edge, and the walk must come to rest where the rules say.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from hopper_operator.api.enums import DesiredState, Phase
from hopper_operator.core import lifecycle
from hopper_operator.core.plan import Plan, Write
from hopper_operator.core.reconcile import World, advance, decide
from hopper_operator.core.views import InstanceView, WorkloadView, instance_view
from hopper_operator.core.workload import workload_hash
from hopper_operator.resources.patches import metadata_patch
from tests.unit.builders import body, view, world

RUNTIME = {"image": "example/router:1", "replicas": 2}
PARENTS: list[str | Phase] = ["root", "missing", *Phase]


def written(instance_body: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The object after the API server took the plan's metadata and status patches."""
    change = metadata_patch(instance_view(instance_body), plan.metadata) if plan.metadata else {}
    meta = {**instance_body["metadata"], **change}
    meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
    status = plan.status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {**instance_body, "metadata": meta, "status": status}


def applied(plan: Plan) -> WorkloadView | None:
    """The Deployment an ideal cluster makes of the plan's apply: at once available."""
    write = plan.deployment
    if write is None or write.write is not Write.ENSURE or write.runtime is None:
        return None
    return WorkloadView(
        spec_hash=workload_hash(write.runtime, write.replicas, write.config_digest),
        replicas=write.replicas,
        up_to_date=True,
        available_replicas=write.replicas,
        updated_replicas=write.replicas,
        failure=None,
    )


def walk(start: World, start_body: dict[str, Any], steps: int = 12) -> list[Phase]:
    phases = [start.instance.phase]
    w, b = start, start_body
    for _ in range(steps):
        plan = decide(w)
        if not plan.writes and not plan.stepped:
            return phases
        b = written(b, plan)
        instance = instance_view(b)
        w = advance(w, plan, instance=instance, workload=applied(plan))
        if instance.phase != phases[-1]:
            phases.append(instance.phase)
    raise AssertionError(f"no rest after {steps} steps: {phases}")


def parent_view(situation: str | Phase) -> InstanceView | None:
    if not isinstance(situation, Phase):
        return None
    desired = {Phase.PAUSED: "Paused", Phase.TERMINATED: "Terminated"}.get(situation, "Running")
    ready = situation in (Phase.RUNNING, Phase.PAUSED, Phase.TERMINATED)
    return view("top", "GLOBAL", phase=situation.value, state=desired, ready=ready)


def expected_rest(
    start: Phase, own: DesiredState, parent: str | Phase, deleting: bool
) -> DesiredState | None:
    """Where the walk must end; None where it must not move at all."""
    if start is Phase.TERMINATED:
        return None
    if deleting:
        return DesiredState.STOPPED
    if parent == "missing":
        return None
    if isinstance(parent, Phase):
        capped = lifecycle.capped_target(own, parent)
        if parent is not Phase.RUNNING and start not in (Phase.RUNNING, Phase.PAUSED):
            capped = lifecycle.lowest((capped, DesiredState.STOPPED))
        return capped
    return own


CASES = list(itertools.product(Phase, DesiredState, PARENTS, (False, True), (False, True)))


@pytest.mark.parametrize(("start", "own", "parent", "runtime", "deleting"), CASES)
def test_walk(
    start: Phase, own: DesiredState, parent: str | Phase, runtime: bool, deleting: bool
) -> None:
    if own is not DesiredState.TERMINATED and start is Phase.TERMINATED:
        own = DesiredState.TERMINATED  # the API server keeps Terminated final
    is_child = parent != "root"
    b = body(
        "me",
        "PROJECT" if is_child else "GLOBAL",
        parent="top" if is_child else None,
        state=own.value,
        phase=start.value,
        runtime=RUNTIME if runtime else None,
        deleting=deleting,
    )
    me = instance_view(b)
    up = parent_view(parent)
    workload = None
    if runtime and start in (
        Phase.STARTING,
        Phase.RUNNING,
        Phase.PAUSED,
        Phase.ERROR,
        Phase.STOPPING,
    ):
        workload = WorkloadView("old", 2, True, 2, 2, None)
    phases = walk(world(me, *(v for v in (up,) if v), workload=workload), b)

    for source, target in itertools.pairwise(phases):
        assert lifecycle.is_legal(source, target), f"illegal {source} -> {target} in {phases}"
    parent_runs = parent == "root" or parent is Phase.RUNNING
    if not parent_runs:
        assert not set(phases[1:]) & lifecycle.STARTED_PHASES, f"started under {parent}: {phases}"
    rest = expected_rest(start, own, parent, deleting)
    if rest is None:
        assert all(p not in lifecycle.STARTED_PHASES for p in phases[1:]), (
            f"moved without a parent: {phases}"
        )
    else:
        assert lifecycle.satisfies(phases[-1], rest), f"{phases} does not rest at {rest}"
