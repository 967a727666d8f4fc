"""Counting requests from kube-apiserver's own audit log, by user agent, verb and resource."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hopperbench.errors import BenchError

OPERATOR_AGENTS = ("hopper-operator/", "kopf/")
FLOOR_AGENTS = ("hopper-bench-floor/",)
USER_AGENTS = ("hopper-bench/",)  # the bench as the user: its creates and spec changes
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})

# Leader election renews a Lease every few seconds whatever the instances do: counted
# apart (per minute), never in the per-instance figures nor in "the operator went quiet".
LEASES = "leases"

# Metadata for everything, minus the noise nobody here asked about: reads of Events, health
# probes. Leases stay (the operator's leader election is part of its steady cost; the
# control plane's own heartbeats are told apart by user agent like everything else).
POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: None
    verbs: [get, list, watch]
    resources:
      - group: ""
        resources: [events]
      - group: events.k8s.io
        resources: [events]
  - level: None
    nonResourceURLs: [/healthz*, /readyz*, /livez*]
  - level: Metadata
"""


def resource_of(event: dict[str, Any]) -> str:
    ref = event.get("objectRef") or {}
    resource = ref.get("resource") or event.get("requestURI", "?").split("?")[0]
    sub = ref.get("subresource")
    return f"{resource}/{sub}" if sub else str(resource)


class AuditLog:
    """Reads the log in windows of byte offsets; only whole lines, only completed requests."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> int:
        """The end of the last complete line written so far."""
        try:
            with self.path.open("rb") as log:
                log.seek(0, 2)
                size = log.tell()
                log.seek(max(0, size - 65536))
                tail = log.read()
        except FileNotFoundError:
            return 0
        return size - len(tail) + tail.rfind(b"\n") + 1

    def events(self, start: int, end: int, agents: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Completed requests of the given user agents written between two offsets."""
        needles = tuple(f'"userAgent":"{agent}'.encode() for agent in agents)
        with self.path.open("rb") as log:
            log.seek(start)
            for line in log.read(end - start).splitlines():
                if any(needle in line for needle in needles):
                    event = json.loads(line)
                    if event.get("stage") == "ResponseComplete":
                        yield event

    def count(self, start: int, end: int, agents: tuple[str, ...]) -> Counter[str]:
        """Requests by "verb resource", plus " (code)" when refused, between two offsets."""
        return Counter(_key(event) for event in self.events(start, end, agents))

    def writes_per_object(self, start: int, end: int, agents: tuple[str, ...]) -> dict[str, int]:
        """How many instances received 1, 2, 3... writes (their own and their status)."""
        per_name: Counter[str] = Counter(
            (e.get("objectRef") or {}).get("name", "?")
            for e in self.events(start, end, agents)
            if e["verb"] in WRITE_VERBS
            and (e.get("objectRef") or {}).get("resource") == "hopperinstances"
        )
        histogram = Counter(per_name.values())
        return {str(k): histogram[k] for k in sorted(histogram)}

    async def quiet(self, agents: tuple[str, ...], quiet: float, within: float, what: str) -> int:
        """Wait until `agents` wrote nothing for `quiet` seconds; the offset then."""
        start = time.monotonic()
        last_write, position = start, self.offset()
        while True:
            await asyncio.sleep(0.25)
            end = self.offset()
            writes = sum(1 for e in self.events(position, end, agents) if _instance_write(e))
            now = time.monotonic()
            if writes:
                last_write = now
            position = end
            if now - last_write >= quiet:
                return end
            if now - start > within:
                raise BenchError(f"{what}: still writing after {within:.0f} s")


def _instance_write(event: dict[str, Any]) -> bool:
    return event["verb"] in WRITE_VERBS and resource_of(event) != LEASES


def _key(event: dict[str, Any]) -> str:
    key = f"{event['verb']} {resource_of(event)}"
    code = (event.get("responseStatus") or {}).get("code", 200)
    return key if code < 400 else f"{key} ({code})"


def _split(key: str) -> tuple[str, str]:
    verb, _, rest = key.partition(" ")
    return verb, rest.split(" ", 1)[0]


def writes(counts: Counter[str]) -> int:
    """Writes about the instances and what they own (Events included), not Lease renewals."""
    return sum(
        n for key, n in counts.items() if _split(key)[0] in WRITE_VERBS and _split(key)[1] != LEASES
    )


def total(counts: Counter[str]) -> int:
    """Requests about the instances and what they own, not Lease renewals."""
    return sum(n for key, n in counts.items() if _split(key)[1] != LEASES)


def leases(counts: Counter[str]) -> int:
    """Leader election's requests (get, update, create of its Lease)."""
    return sum(n for key, n in counts.items() if _split(key)[1] == LEASES)


def user_part(counts: Counter[str], window: str) -> int:
    """In a floor's (or ideal's) own counts, the writes a user makes in that window.

    The floor creates the instances itself and, for a fan-out, patches the GLOBAL's spec:
    the operator's counts hold neither (the bench makes them, as the user).
    """
    key = "create hopperinstances" if window == "create" else "patch hopperinstances"
    return counts.get(key, 0)
