"""Pure helpers of `kubectl hopper`: drawing the scope tree, its exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from hopper_operator.api.enums import ConditionType
from hopper_operator.api.wire import InstanceBody, condition, parent_of


class WaitResult(IntEnum):
    """Exit codes of `kubectl hopper wait`, stable for scripts."""

    READY = 0
    TIMED_OUT = 1
    ERROR = 2
    STALLED = 3


def _line(obj: InstanceBody) -> str:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    mark = "ready" if condition(obj, ConditionType.READY).get("status") == "True" else _why_not(obj)
    phase = status.get("phase", "Created")
    return (
        f"{obj['metadata']['name']} [{spec.get('scope')}] {phase}"
        f" (desired {spec.get('state', 'Running')}) {mark}"
    )


def _why_not(obj: InstanceBody) -> str:
    """The reason and message of what keeps an instance from Ready: a stall first."""
    stalled = condition(obj, ConditionType.STALLED)
    failing = stalled if stalled.get("status") == "True" else condition(obj, ConditionType.READY)
    if not failing:
        return "not ready: not reconciled yet"
    return f"not ready: {failing.get('reason', 'Unknown')}: {failing.get('message', '')}".rstrip(
        ": "
    )


def draw(objects: Iterable[InstanceBody]) -> list[str]:
    """The forest of instances, children indented under their parents, names sorted."""
    by_name = {o["metadata"]["name"]: o for o in objects}
    children: dict[str | None, list[str]] = {}
    for name, obj in by_name.items():
        parent = parent_of(obj)
        children.setdefault(parent if parent in by_name else None, []).append(name)
    lines: list[str] = []

    def walk(name: str, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(prefix + branch + _line(by_name[name]))
        below = sorted(children.get(name, ()))
        inner = prefix + ("" if top else ("    " if last else "│   "))
        for index, child in enumerate(below):
            walk(child, inner, index == len(below) - 1, top=False)

    for root in sorted(children.get(None, ())):
        walk(root, "", True, top=True)
    return lines
