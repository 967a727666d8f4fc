"""`kubectl hopper` pure parts: the tree drawing (when a wait is done: tests/unit/test_verbs.py)."""

from __future__ import annotations

from typing import Any

from hopper_operator.cli.tree import draw


def obj(
    name: str,
    parent: str | None = None,
    *,
    phase: str = "Running",
    ready: bool = True,
    stalled: bool = False,
) -> dict[str, Any]:
    conditions = [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "Reconciled" if ready else "ParentNotFound",
            "message": "m",
        }
    ]
    if stalled:
        conditions.append(
            {"type": "Stalled", "status": "True", "reason": "ParentScopeInvalid", "message": "s"}
        )
    spec: dict[str, Any] = {"scope": "PROJECT" if parent else "GLOBAL", "state": "Running"}
    if parent:
        spec["parentRef"] = {"name": parent}
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": spec,
        "status": {
            "phase": phase,
            "observedGeneration": 1,
            "conditions": conditions,
        },
    }


def test_draw_nests_children_sorted() -> None:
    lines = draw([obj("b", "a"), obj("a"), obj("c", "a"), obj("d", "c", ready=False)])
    assert lines == [
        "a [GLOBAL] Running (desired Running) ready",
        "├── b [PROJECT] Running (desired Running) ready",
        "└── c [PROJECT] Running (desired Running) ready",
        "    └── d [PROJECT] Running (desired Running) not ready: ParentNotFound: m",
    ]


def test_the_tree_says_why_an_instance_is_not_ready_a_stall_first() -> None:
    (line,) = draw([obj("s", ready=False, stalled=True)])
    assert line.endswith("not ready: ParentScopeInvalid: s")
    fresh = {"metadata": {"name": "f"}, "spec": {"scope": "GLOBAL"}}
    assert draw([fresh]) == ["f [GLOBAL] Created (desired Running) not ready: not reconciled yet"]


def test_orphans_are_drawn_as_roots() -> None:
    assert draw([obj("x", "gone")])[0].startswith("x [PROJECT]")
