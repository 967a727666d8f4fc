"""The webhooks' decisions agree with the operator's: refused exactly when the reconciler
would stall on the parent's scope, with its message; stamped exactly as its metadata step."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from hopper_operator.api.enums import Scope
from hopper_operator.api.models import Condition
from hopper_operator.core.admission import awaiting_ancestor, refusal, stamp
from hopper_operator.core.reconcile import World, decide
from hopper_operator.core.tree import parent_scope_error
from hopper_operator.resources.patches import metadata_patch
from tests.unit.builders import view, world

# Every scope that may carry a parentRef (FEDERATED is always a root).
CHILDREN = [s for s in Scope if s is not Scope.FEDERATED]


def stalled_message(conditions: list[Condition]) -> str | None:
    found = [c.message for c in conditions if c.type == "Stalled" and c.status == "True"]
    return found[0] if found else None


@pytest.mark.parametrize(("child", "parent"), list(itertools.product(CHILDREN, Scope)))
def test_refused_exactly_when_the_operator_would_stall(child: Scope, parent: Scope) -> None:
    me = view("child", child.value, parent="p", finalizers=())
    grandparent = None if parent in (Scope.FEDERATED, Scope.GLOBAL) else "r"
    scene = world(me, view("p", parent.value, parent=grandparent, phase="Running", ready=True))
    plan = decide(scene)
    assert plan.status is not None
    stalled = stalled_message(list(plan.status.conditions))
    assert refusal(scene) == stalled
    assert refusal(scene) == parent_scope_error(child, parent)


def test_a_missing_parent_is_allowed() -> None:
    assert refusal(world(view("o", "ORCHESTRATION", parent="nowhere"))) is None


def test_a_parent_being_deleted_is_allowed() -> None:
    parent = view("o", "ORCHESTRATION", parent="x", phase="Running", deleting=True)
    assert refusal(world(view("p", "PROJECT", parent="o"), parent)) is None


def test_an_update_leaving_the_spec_alone_is_allowed() -> None:
    """The operator's own metadata patches (the finalizer removed) must go through."""
    parent = view("o", "ORCHESTRATION", parent="x", phase="Running")
    me = view("p", "PROJECT", parent="o")
    assert refusal(world(me, parent), old=me) is None
    changed = view("p", "PROJECT", parent="o", state="Stopped")
    assert refusal(world(changed, parent), old=me) is not None


def test_a_deleting_instance_and_an_unreadable_spec_are_left_alone() -> None:
    parent = view("o", "ORCHESTRATION", parent="x", phase="Running")
    assert refusal(world(view("p", "PROJECT", parent="o", deleting=True), parent)) is None
    unreadable = view("p", "PROJECT", parent="o", state="Sideways")
    assert refusal(world(unreadable, parent)) is None
    assert stamp(world(unreadable, parent)) is None


@pytest.mark.parametrize(
    "scene",
    [
        world(view("g", "GLOBAL", finalizers=())),
        world(view("p", "PROJECT", parent="g", finalizers=()), view("g", phase="Running")),
        world(
            view("o", "ORCHESTRATION", parent="p", finalizers=()),
            view("p", "PROJECT", parent="g", phase="Running"),
            view("g", phase="Running"),
        ),
        world(view("o", "ORCHESTRATION", parent="p", finalizers=())),  # parent not seen yet
        world(view("p", "PROJECT", parent="g", finalizers=()), view("g", deleting=True)),
        world(view("p", "PROJECT", parent="g", finalizers=()), view("p", "FAMILY")),
    ],
    ids=["root", "child", "grandchild", "orphan", "parent-deleting", "unrelated-ancestor"],
)
def test_the_stamp_is_the_operators_metadata_step(scene: World) -> None:
    stamped = stamp(scene)
    assert stamped == decide(scene).metadata
    assert stamped is not None and stamped.finalizer is True
    assert metadata_patch(scene.instance, stamped)["finalizers"] == ["hopper.dev/finalizer"]


def test_nothing_is_stamped_on_an_object_without_a_name_yet() -> None:
    assert stamp(world(replace(view("g"), name=""))) is None


def test_a_create_waits_only_while_an_ancestor_is_not_indexed() -> None:
    g = view("g", phase="Running")
    p = view("p", "PROJECT", parent="g", phase="Running")
    orchestration = view("o", "ORCHESTRATION", parent="p", finalizers=())
    assert not awaiting_ancestor(world(view("r", finalizers=())))
    assert not awaiting_ancestor(world(orchestration, p, g))
    assert awaiting_ancestor(world(orchestration))  # the parent not indexed yet
    assert awaiting_ancestor(world(orchestration, p))  # the root not indexed yet
