"""core/v1 Events about an instance, as `kubectl describe` and `kubectl get events` show them."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from hopper_operator import GROUP, KIND, VERSION

COMPONENT = "hopper-operator"


def event(
    *,
    namespace: str,
    name: str,
    uid: str,
    type: str,
    reason: str,
    message: str,
    now: datetime,
) -> dict[str, Any]:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "type": type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
