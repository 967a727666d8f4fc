"""What the reconciler observes of one instance, and its place in the tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from hopper_operator.api.models import HopperInstanceSpec
from hopper_operator.core.config import merge_down
from hopper_operator.core.tree import parent_scope_error
from hopper_operator.core.views import InstanceView, WorkloadView

DEFAULT_PARENT_GRACE_SECONDS = 0.0


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
    # How long a brand-new child keeps quiet while its parent is absent or starting
    # (course.parent_settling); an operator setting, 0 (the default) to report at once:
    # the bench measured no write saved by it (bench/RESULTS.md, issue 22).
    parent_grace: float = DEFAULT_PARENT_GRACE_SECONDS


@dataclass(frozen=True)
class Tree:
    """An instance's place in the tree, as far as the index shows it."""

    lineage: Lineage
    parent: InstanceView | None
    root: str | None
    depth: int | None
    config: dict[str, object] | None  # inherited; None while an ancestor is missing
    problem: str | None


def tree_of(world: World, spec: HopperInstanceSpec) -> Tree:
    """Parent, root, depth and inherited config; unknowns stay None while a link is missing."""
    me = world.instance
    if spec.parent_name is None:
        return Tree(Lineage.ROOT, None, me.name, 0, dict(spec.config), None)
    if not world.ancestors or world.ancestors[0].name != spec.parent_name:
        return Tree(
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
    return Tree(
        Lineage.INVALID if error else Lineage.OK,
        parent,
        top.name if complete else None,
        len(world.ancestors) if complete else None,
        merge_down(configs) if complete else None,
        error,
    )
