"""Pure helpers of `kubectl hopper`: drawing the scope tree and its changes, exit codes."""

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


NONE_FOUND = "No HopperInstances found."


def draw_scoped(objects: Iterable[InstanceBody], all_namespaces: bool) -> list[str]:
    """The forest; across namespaces (`-A`), one forest under each namespace's name."""
    items = list(objects)
    if not items:
        return [NONE_FOUND]
    if not all_namespaces:
        return draw(items)
    lines = []
    for ns in sorted({i["metadata"]["namespace"] for i in items}):
        lines.append(f"namespace {ns}:")
        lines += [
            "  " + line for line in draw(i for i in items if i["metadata"]["namespace"] == ns)
        ]
    return lines


def change_line(obj: InstanceBody, *, deleted: bool = False) -> str:
    """`NAMESPACE/NAME PHASE READY REASON`, the line a piped `tree --watch` prints per change.

    READY is the Ready condition's status; REASON is Stalled's while it holds, else Ready's.
    """
    meta = obj["metadata"]
    name = f"{meta.get('namespace', '')}/{meta['name']}"
    if deleted:
        return f"{name} Deleted - -"
    ready, stalled = condition(obj, ConditionType.READY), condition(obj, ConditionType.STALLED)
    reason = (stalled if stalled.get("status") == "True" else ready).get("reason", "-")
    phase = (obj.get("status") or {}).get("phase", "Created")
    return f"{name} {phase} {ready.get('status', '-')} {reason}"
