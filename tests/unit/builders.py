"""Builders of observed objects for pure tests: plain dicts through the real parsers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hopper_operator.core.reconcile import World
from hopper_operator.core.views import InstanceView, WorkloadView, instance_view
from hopper_operator.core.world import DEFAULT_PARENT_GRACE_SECONDS

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def body(
    name: str,
    scope: str = "GLOBAL",
    *,
    parent: str | None = None,
    state: str = "Running",
    phase: str | None = None,
    ready: bool | None = None,
    generation: int = 1,
    observed_generation: int | None = None,
    runtime: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    deleting: bool = False,
    finalizers: tuple[str, ...] = ("hopper.dev/finalizer",),
    uid: str | None = None,
    annotations: dict[str, str] | None = None,
    created: str | None = None,
    **spec_extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"scope": scope, "state": state, **spec_extra}
    if parent:
        spec["parentRef"] = {"name": parent}
    if runtime:
        spec["runtime"] = runtime
    if config:
        spec["config"] = config
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
        status["observedGeneration"] = observed_generation or generation
    if ready is not None:
        status["conditions"] = [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "Test",
                "lastTransitionTime": "2026-11-26T11:00:00Z",
            }
        ]
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "uid": uid or f"uid-{name}",
        "generation": generation,
        "resourceVersion": "10",
        "finalizers": list(finalizers),
        "annotations": annotations or {},
    }
    if created:
        meta["creationTimestamp"] = created
    if deleting:
        meta["deletionTimestamp"] = "2026-11-26T11:59:00Z"
    return {"metadata": meta, "spec": spec, "status": status}


def view(name: str, scope: str = "GLOBAL", **kwargs: Any) -> InstanceView:
    return instance_view(body(name, scope, **kwargs))


def world(
    instance: InstanceView,
    *ancestors: InstanceView,
    children: tuple[InstanceView, ...] = (),
    workload: WorkloadView | None = None,
    pods: int = 0,
    config_map_hash: str | None = None,
    now: datetime = NOW,
    parent_grace: float = DEFAULT_PARENT_GRACE_SECONDS,
) -> World:
    return World(
        instance=instance,
        ancestors=ancestors,
        children=children,
        workload=workload,
        pods=pods,
        config_map_hash=config_map_hash,
        now=now,
        parent_grace=parent_grace,
    )
