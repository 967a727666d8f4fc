"""One LIST of limit 1: whether a resource holds any object, the cheapest read that also
proves the API server answers (it raises otherwise)."""

from __future__ import annotations

from hopper_operator.kube.client import Kube


async def lists_any(kube: Kube, path: str) -> bool:
    listed = await kube.request("GET", path, query={"limit": "1"})
    return bool(listed.get("items"))
