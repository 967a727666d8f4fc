"""REST paths of the objects the operator writes."""

from __future__ import annotations

from hopper_operator.api.meta import GROUP, PLURAL, VERSION


def instance_path(namespace: str, name: str = "") -> str:
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{base}/{name}" if name else base


def all_instances_path() -> str:
    """The HopperInstances of every namespace (to list or watch them all)."""
    return f"/apis/{GROUP}/{VERSION}/{PLURAL}"


def config_map_path(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{base}/{name}" if name else base


def deployment_path(namespace: str, name: str = "") -> str:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    return f"{base}/{name}" if name else base


def events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"
