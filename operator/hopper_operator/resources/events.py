"""core/v1 Events about an instance, as `kubectl describe` and `kubectl get events` show them."""

from __future__ import annotations

from datetime import datetime

from hopper_operator.api.meta import API_VERSION, KIND, MANAGER, format_time


def event(
    *,
    namespace: str,
    name: str,
    uid: str,
    type: str,
    reason: str,
    message: str,
    now: datetime,
) -> dict[str, object]:
    stamp = format_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        # The API server names it: unique without a random number here.
        "metadata": {"generateName": f"{name}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "type": type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": MANAGER},
        "reportingComponent": MANAGER,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
