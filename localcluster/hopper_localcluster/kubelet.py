"""A stand-in for the kubelet's one job we need: report the pods of Deployments ready.

No kubelet or scheduler runs on the local control plane, so pods stay Pending forever.
This loop marks the pods of hopper workloads Running and Ready through the pods/status
subresource, exactly the fields a kubelet would write; the ReplicaSet and Deployment
controllers then count availability as in a real cluster.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

from hopper_operator.api.meta import Label, format_time

SELECTOR = Label.INSTANCE.value


class Api(Protocol):
    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ...
    ) -> tuple[int, bytes]: ...


def ready_status(now: datetime) -> dict[str, Any]:
    stamp = format_time(now)
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": stamp}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]
    return {"status": {"phase": "Running", "conditions": conditions, "startTime": stamp}}


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


class StandInKubelet:
    """Polls every `interval` seconds in a daemon thread until `stop()`."""

    def __init__(self, api: Api, *, interval: float = 0.3, selector: str = SELECTOR) -> None:
        self._api = api
        self._interval = interval
        self._selector = selector
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stand-in-kubelet", daemon=True)
        self.marked = 0

    def start(self) -> StandInKubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self.tick()
            except OSError:
                continue  # the control plane is stopping or busy: try again next tick

    def tick(self) -> None:
        status, raw = self._api.request("GET", f"/api/v1/pods?labelSelector={self._selector}")
        if status != 200:
            return
        for pod in json.loads(raw).get("items", ()):
            meta = pod["metadata"]
            if is_ready(pod) or meta.get("deletionTimestamp"):
                continue
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
            body = json.dumps(ready_status(datetime.now(UTC))).encode()
            code, _ = self._api.request(
                "PATCH", path, body, "application/strategic-merge-patch+json"
            )
            if code == 200:
                self.marked += 1
