"""The Instance API's event stream (issue 27) under load (`logs` must exist): N instances
in one namespace, S streams open on them, the root paused then resumed.

Reference: our own watch straight on kube-apiserver, started before anything changes; it
times each change (by resourceVersion, which is also each stream event's id). Every stream
must deliver every change once; the delay of each is its arrival minus the reference's.
The same cycle runs first with no stream open: the operator's convergence and writes with
the streams against without them. The API's RSS is read with 0 and with S idle streams.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hopper_localcluster import ControlPlane
from hopperbench.api import Api, instances_path
from hopperbench.errors import BenchError
from hopperbench.procstat import cpu_windows, memory_mb, snapshot
from hopperbench.rest import GLOBAL, Deployed, create_all, deployed, tree
from hopperbench.watch import Tracker, settled_in

SETTLE_S = 3.0  # quiet after a cycle before the streams are asked to be done
DRAIN_S = 120.0  # at most this long for every stream to deliver the last change


class Reference(Tracker):
    """The bench's own watch, also timing each change: resourceVersion -> (name, arrival)."""

    def __init__(self, api: Api, namespace: str) -> None:
        super().__init__(api, namespace)
        self.changes: dict[int, tuple[str, float]] = {}

    def _handle(self, event: dict[str, Any], version: str) -> str:
        meta = (event.get("object") or {}).get("metadata", {})
        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
            self.changes[int(meta["resourceVersion"])] = (meta["name"], time.monotonic())
        return super()._handle(event, version)

    def since(self, moment: float) -> dict[int, float]:
        return {rv: t for rv, (_, t) in self.changes.items() if t >= moment}


class Consumers:
    """`hopperbench.consumers` in a process of its own, reading `count` streams."""

    def __init__(self, url: str, token: str, count: int, out: Path) -> None:
        self.out = out
        self.cpu_s = 0.0
        bench = str(Path(__file__).parents[1])
        self.process = asyncio.subprocess.create_subprocess_exec(
            sys.executable, "-m", "hopperbench.consumers", url, token, str(count), str(out),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": bench},
        )  # fmt: skip

    async def __aenter__(self) -> Consumers:
        self.child = await self.process
        await self._said("synced", 600)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.child.returncode is None:
            self.child.kill()
            await self.child.wait()

    async def _said(self, word: str, within: float) -> None:
        assert self.child.stdout is not None
        line = await asyncio.wait_for(self.child.stdout.readline(), within)
        if line.strip() != word.encode():
            raise BenchError(f"the stream consumers said {line!r}, not {word}")

    async def collect(self, until: int) -> list[dict[str, Any]]:
        """What every stream got once each has the change `until` (or after DRAIN_S)."""
        assert self.child.stdin is not None
        self.child.stdin.write(f"until {until} {DRAIN_S}\n".encode())
        await self.child.stdin.drain()
        await self._said("done", DRAIN_S + 60)
        await self.child.wait()
        record = json.loads(self.out.read_text())
        self.cpu_s = float(record["cpu_s"])
        return list(record["streams"])


async def cycle(on: Deployed, reference: Reference, names: set[str], n: int) -> dict[str, Any]:
    """Pause the root, wait for all Paused; resume, wait for all Running; then quiet."""
    root = instances_path(on.namespace, GLOBAL)
    pids = {"operator": on.operator.pid, "api": on.served.pid}
    started, cpu = time.monotonic(), snapshot(pids)
    seconds = {}
    for state in ("Paused", "Running"):
        asked = time.monotonic()
        await on.control.merge_patch(root, {"spec": {"state": state}})
        done = await reference.wait(names, settled_in(state), 120 + n * 0.2, f"all {state}")
        seconds[state.lower()] = round(done - asked, 2)
    await _quiet(reference, SETTLE_S)
    changes = reference.since(started)
    return {
        "convergence_s": seconds,
        "changes": changes,
        "writes_per_instance": round((len(changes) - 2) / n, 3),  # less our two patches
        "cpu_s": cpu_windows([cpu, snapshot(pids)], ["cycle"])["cycle"],
    }


async def _quiet(reference: Reference, seconds: float) -> None:
    """Until no change has come for `seconds`."""
    while True:
        last = max((t for _, t in reference.changes.values()), default=0.0)
        if time.monotonic() - last >= seconds:
            return
        await asyncio.sleep(0.2)


def delivery(runs: list[tuple[dict[int, float], list[dict[str, Any]]]]) -> dict[str, Any]:
    """Every stream of every run against the reference of that run: delays (pooled), and
    what was lost, doubled or extra."""
    delays: list[float] = []
    expected = delivered = lost = doubled = extra = 0
    for changes, streams in runs:
        expected += len(changes) * len(streams)
        for stream in streams:
            got = Counter(ident for ident, _, _ in stream["events"])
            first: dict[int, float] = {}
            for ident, _, arrived in stream["events"]:
                first.setdefault(ident, arrived)
            delays += [first[rv] - t for rv, t in changes.items() if rv in first]
            delivered += len(stream["events"])
            lost += sum(1 for rv in changes if rv not in got)
            doubled += sum(count - 1 for count in got.values() if count > 1)
            extra += sum(1 for ident in got if ident not in changes)
    cuts = statistics.quantiles(delays, n=100, method="inclusive") if len(delays) > 1 else [0] * 99
    streams = [stream for _, run in runs for stream in run]
    return {
        "expected": expected,
        "delivered": delivered,
        "lost": lost,
        "doubled": doubled,
        "extra": extra,
        "resets": sum(s["resets"] for s in streams),
        "ended": Counter(str(s["ended"]) for s in streams if s["ended"]),
        "delay_ms": {
            "p50": round(cuts[49] * 1000, 1),
            "p99": round(cuts[98] * 1000, 1),
            "max": round(max(delays, default=0) * 1000, 1),
        },
    }


async def run_stream(
    plane: ControlPlane, n: int, count: int, reps: int, logs: Path
) -> dict[str, Any]:
    async with deployed(plane, "stream", logs) as on:
        reference = Reference(on.control, on.namespace)
        try:
            return await _measure(on, reference, n, count=count, reps=reps, logs=logs)
        finally:
            await reference.stop()


async def _measure(
    on: Deployed, reference: Reference, n: int, *, count: int, reps: int, logs: Path
) -> dict[str, Any]:
    operator, served = on.operator, on.served
    await reference.start()
    created = tree(n, "Running")
    await create_all(on.control, on.namespace, created)
    names = {obj["metadata"]["name"] for obj in created}
    await operator.guard(reference.wait(names, settled_in("Running"), 120 + n * 0.3, "up"))
    await _quiet(reference, SETTLE_S)
    url = f"http://127.0.0.1:{served.port}/api/v1/namespaces/{on.namespace}/instances"
    # One stream first, closed: the API has listed (it lists at its start), every stream after.
    async with Consumers(url, on.token, 1, logs / "warm.json") as warm:
        await warm.collect(0)
    runs, alone, watched, rss, readers_cpu = [], [], [], [], []
    for rep in range(reps):
        # Without, then with the streams: each pair shares the machine's moment.
        alone.append(await operator.guard(cycle(on, reference, names, n)))
        idle = memory_mb(served.pid)["VmRSS"]
        async with Consumers(url, on.token, count, logs / f"streams-{rep}.json") as streams:
            await asyncio.sleep(SETTLE_S)
            rss.append((idle, memory_mb(served.pid)["VmRSS"]))
            cycled = await operator.guard(cycle(on, reference, names, n))
            runs.append((cycled["changes"], await streams.collect(max(cycled["changes"]))))
        watched.append(cycled)
        readers_cpu.append(round(streams.cpu_s, 1))
    return {
        "kind": "stream",
        "n": n,
        "streams": count,
        "reps": reps,
        "delivery": delivery(runs),
        "snapshot_events": Counter(s["snapshot"] for _, got in runs for s in got),
        "api_rss_mib": [
            {"0 streams": round(a, 1), f"{count} streams": round(b, 1)} for a, b in rss
        ],
        "rss_kib_per_stream": round(statistics.median((b - a) * 1024 / count for a, b in rss), 1),
        "rss_kib_per_stream_each": [round((b - a) * 1024 / count, 1) for a, b in rss],
        "api_peak_rss_mib": round(memory_mb(served.pid)["VmHWM"], 1),
        "readers_cpu_s": readers_cpu,  # the stream readers' own process, on the same machine
        "operator": [
            {"without streams": _operator(a), "with streams": _operator(w)}
            for a, w in zip(alone, watched, strict=True)
        ],
    }


def _operator(cycle: dict[str, Any]) -> dict[str, Any]:
    return {
        "pause_s": cycle["convergence_s"]["paused"],
        "resume_s": cycle["convergence_s"]["running"],
        "instance_writes_per_instance": cycle["writes_per_instance"],
        "cpu_s": cycle["cpu_s"],  # operator and API, pause to quiet after the resume
    }
