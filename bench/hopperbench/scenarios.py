"""One case each: the operator, or the floor, converging a tree of N instances."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from hopper_operator.api.meta import API_VERSION, format_time
from hopperbench.admission import wait_admitting, webhooks
from hopperbench.api import Api, instances_path
from hopperbench.audit import FLOOR_AGENTS, OPERATOR_AGENTS, USER_AGENTS, AuditLog
from hopperbench.errors import BenchError
from hopperbench.operator import OperatorProcess
from hopperbench.procstat import cpu_windows, snapshot
from hopperbench.watch import Tracker, settled_in

GLOBAL = "g"
PROBE = "bench-probe"
SETTLE_TIMEOUT = 180.0
NAMESPACE_GONE_TIMEOUT = 600.0


@dataclass
class Bench:
    """What every case shares: clients, the audit log, and the knobs."""

    control: Api  # our watches, our creates in operator cases, namespaces, cleanup
    floor: Api  # the floor's own requests, counted from the audit log like the operator's
    audit: AuditLog
    processes: dict[str, int]  # the control plane's and ours: CPU is accounted per window
    env: dict[str, str]
    operator_command: list[str]
    logs: Path
    concurrency: int
    steady_seconds: float
    timeout_base: float
    timeout_per_instance: float
    # A phase ends once the operator wrote nothing for this long: longer than any batching
    # delay of the operator (children counts), so that its late writes count where they belong.
    quiet_seconds: float
    # The operator serves the admission webhooks (as the chart deploys it), and the design
    # replay stores the metadata with the create, as they do.
    webhooks: bool = True

    def timeout(self, n: int) -> float:
        return self.timeout_base + self.timeout_per_instance * n


# -- the tree ----------------------------------------------------------------------------


def tree(n: int) -> list[dict[str, Any]]:
    """1 GLOBAL, N/50 PROJECTs, the rest ORCHESTRATIONs spread evenly; parents first."""
    projects = max(1, n // 50)
    orchestrations = n - 1 - projects
    if orchestrations < 0:
        raise BenchError(f"N={n} is too small for a tree (at least 2)")
    items = [_instance(GLOBAL, "GLOBAL", None)]
    items += [_instance(f"p{i}", "PROJECT", GLOBAL) for i in range(projects)]
    items += [
        _instance(f"o{i}", "ORCHESTRATION", f"p{i % projects}") for i in range(orchestrations)
    ]
    return items


def _instance(name: str, scope: str, parent: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"scope": scope, "config": {"bench": {"name": name}}}
    if parent:
        spec["parentRef"] = {"name": parent}
    return {
        "apiVersion": API_VERSION,
        "kind": "HopperInstance",
        "metadata": {"name": name},
        "spec": spec,
    }


def names(items: Iterable[dict[str, Any]]) -> set[str]:
    return {item["metadata"]["name"] for item in items}


async def bounded(limit: int, jobs: Iterable[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the jobs in order, at most `limit` at a time."""
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


# -- namespaces --------------------------------------------------------------------------


async def create_namespace(api: Api, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    await api.request("POST", "/api/v1/namespaces", body)


async def delete_namespace(bench: Bench, namespace: str, strip_finalizers: bool) -> None:
    """Delete a case's namespace and wait until it is gone, so cases do not overlap."""
    api = bench.control
    if strip_finalizers:  # the operator is stopped: nobody would release its finalizers
        listing = await api.request("GET", instances_path(namespace))
        strip = {"metadata": {"finalizers": None}}
        await bounded(
            bench.concurrency,
            (
                partial(api.merge_patch, instances_path(namespace, item["metadata"]["name"]), strip)
                for item in listing["items"]
            ),
        )
    await api.request("DELETE", f"/api/v1/namespaces/{namespace}", ok=(404,))
    deadline = time.monotonic() + NAMESPACE_GONE_TIMEOUT
    while (await api.request("GET", f"/api/v1/namespaces/{namespace}", ok=(404,))).get(
        "kind"
    ) == "Namespace":
        if time.monotonic() > deadline:
            raise BenchError(f"namespace {namespace} still there after {NAMESPACE_GONE_TIMEOUT} s")
        await asyncio.sleep(1.0)


# -- the floor ---------------------------------------------------------------------------


def floor_status(phase: str, generation: int) -> dict[str, Any]:
    now = format_time(datetime.now(UTC))
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Reconciled",
        "message": f"{phase} as desired",
        "lastTransitionTime": now,
        "observedGeneration": generation,
    }
    return {"status": {"phase": phase, "observedGeneration": generation, "conditions": [ready]}}


async def _floor_create(api: Api, namespace: str, item: dict[str, Any]) -> int:
    """Create one instance and write its end state: two requests."""
    created = await api.request("POST", instances_path(namespace), item)
    meta = created["metadata"]
    path = instances_path(namespace, meta["name"]) + "/status"
    await api.merge_patch(path, floor_status("Running", meta["generation"]))
    return int(meta["generation"])


async def _floor_state(
    bench: Bench,
    namespace: str,
    items: list[dict[str, Any]],
    generations: dict[str, int],
    state: str,
) -> None:
    """Set the GLOBAL's spec.state, then every instance's status to match: N+1 requests."""
    patched = await bench.floor.merge_patch(
        instances_path(namespace, GLOBAL), {"spec": {"state": state}}
    )
    generations[GLOBAL] = int(patched["metadata"]["generation"])
    await bounded(
        bench.concurrency,
        (
            partial(
                bench.floor.merge_patch,
                instances_path(namespace, name) + "/status",
                floor_status(state, generations[name]),
            )
            for name in names(items)
        ),
    )


async def run_floor(bench: Bench, n: int, namespace: str) -> dict[str, Any]:
    items = tree(n)
    await create_namespace(bench.control, namespace)
    tracker = Tracker(bench.control, namespace)
    await tracker.start()
    try:
        return await _floor_case(bench, tracker, items, namespace)
    finally:
        await tracker.stop()
        await delete_namespace(bench, namespace, strip_finalizers=False)


async def _floor_case(
    bench: Bench, tracker: Tracker, items: list[dict[str, Any]], namespace: str
) -> dict[str, Any]:
    all_names, timeout = names(items), bench.timeout(len(items))
    offsets, cpu = [bench.audit.offset()], [snapshot(bench.processes)]
    start = time.monotonic()
    created = await bounded(
        bench.concurrency,
        (partial(_floor_create, bench.floor, namespace, item) for item in items),
    )
    generations = dict(zip((i["metadata"]["name"] for i in items), created, strict=True))
    converged = await tracker.wait(all_names, settled_in("Running"), timeout, "floor: all Running")
    result: dict[str, Any] = {"convergence_s": converged - start}
    offsets.append(bench.audit.offset())
    cpu.append(snapshot(bench.processes))
    for label, state in (("pause", "Paused"), ("resume", "Running")):
        start = time.monotonic()
        await _floor_state(bench, namespace, items, generations, state)
        done = await tracker.wait(all_names, settled_in(state), timeout, f"floor: all {state}")
        result[f"{label}_s"] = done - start
        offsets.append(bench.audit.offset())
        cpu.append(snapshot(bench.processes))
    labels = ("create", "pause", "resume")
    result["requests"] = _windows(bench.audit, offsets, labels, FLOOR_AGENTS)
    result["cpu_s"] = cpu_windows(cpu, labels)
    return result


def _windows(
    audit: AuditLog, offsets: list[int], labels: Iterable[str], agents: tuple[str, ...]
) -> dict[str, Counter[str]]:
    return {
        label: audit.count(offsets[i], offsets[i + 1], agents) for i, label in enumerate(labels)
    }


# -- the operator ------------------------------------------------------------------------


async def run_operator(bench: Bench, n: int, namespace: str, log: Path) -> dict[str, Any]:
    items = tree(n)
    await create_namespace(bench.control, namespace)
    tracker = Tracker(bench.control, namespace)
    operator = OperatorProcess(bench.operator_command, bench.env, log)
    await tracker.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            flags: list[str] = []
            if bench.webhooks:
                flags = await stack.enter_async_context(webhooks(bench.control, namespace))
            stack.callback(operator.stop)  # stopped before its configurations go
            operator.start(namespace, flags)
            case = _operator_case(bench, tracker, operator, items, namespace)
            return await operator.guard(case)
    finally:
        operator.stop()
        await tracker.stop()
        await delete_namespace(bench, namespace, strip_finalizers=True)


async def _await_up(bench: Bench, tracker: Tracker, namespace: str) -> None:
    """The operator is up once it reconciled a probe instance to Ready (and, with webhooks,
    kube-apiserver calls them)."""
    if bench.webhooks:
        await wait_admitting(bench.control, namespace, _instance(PROBE, "GLOBAL", None))
    await bench.control.request("POST", instances_path(namespace), _instance(PROBE, "GLOBAL", None))
    await tracker.wait({PROBE}, settled_in("Running"), 120.0, "the operator to start (probe Ready)")
    await bench.audit.quiet(OPERATOR_AGENTS, bench.quiet_seconds, SETTLE_TIMEOUT, "probe settle")


async def _operator_case(
    bench: Bench,
    tracker: Tracker,
    operator: OperatorProcess,
    items: list[dict[str, Any]],
    namespace: str,
) -> dict[str, Any]:
    await _await_up(bench, tracker, namespace)
    processes = {**bench.processes, "operator": operator.pid}
    offsets, cpu = [bench.audit.offset()], [snapshot(processes)]
    result: dict[str, Any] = {}
    result["convergence_s"], latencies = await _converge(bench, tracker, items, namespace)
    result["create_latency_ms"] = _percentiles(latencies)
    result["webhooks"] = bench.webhooks
    offsets.append(await _settle(bench, "create"))
    cpu.append(snapshot(processes))
    for label, state in (("pause", "Paused"), ("resume", "Running")):
        result[f"{label}_s"] = await _fan_out(bench, tracker, items, namespace, state)
        offsets.append(await _settle(bench, label))
        cpu.append(snapshot(processes))
    steady_start = time.monotonic()
    await asyncio.sleep(bench.steady_seconds)
    offsets.append(bench.audit.offset())
    cpu.append(snapshot(processes))
    result["steady_s"] = time.monotonic() - steady_start
    labels = ("create", "pause", "resume", "steady")
    result["requests"] = _windows(bench.audit, offsets, labels, OPERATOR_AGENTS)
    # The user's writes (its creates, the GLOBAL's spec changes): the floor's own counts
    # hold its equivalents, so with these the two compare like with like.
    result["user_requests"] = _windows(bench.audit, offsets, labels[:3], USER_AGENTS)
    # instance writes per object -> how many objects: who needed more than the usual?
    result["instance_writes_histogram"] = {
        label: bench.audit.writes_per_object(offsets[i], offsets[i + 1], OPERATOR_AGENTS)
        for i, label in enumerate(labels[:3])
    }
    result["cpu_s"] = cpu_windows(cpu, labels)
    result["memory_mb"] = operator.memory_mb()
    result["watch_events"] = tracker.events
    return result


async def _converge(
    bench: Bench, tracker: Tracker, items: list[dict[str, Any]], namespace: str
) -> tuple[float, list[float]]:
    """Create the tree; seconds from the first create until all are Running and Ready, and
    each create's latency as this client sees it (with `concurrency` in flight)."""
    start = time.monotonic()
    latencies = await bounded(
        bench.concurrency, (partial(_timed_create, bench.control, namespace, i) for i in items)
    )
    what = "operator: all Running"
    done = await tracker.wait(names(items), settled_in("Running"), bench.timeout(len(items)), what)
    return done - start, latencies


async def _timed_create(api: Api, namespace: str, item: dict[str, Any]) -> float:
    started = time.perf_counter()
    await api.request("POST", instances_path(namespace), item)
    return time.perf_counter() - started


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50": at(0.50), "p99": at(0.99)}


async def _fan_out(
    bench: Bench, tracker: Tracker, items: list[dict[str, Any]], namespace: str, state: str
) -> float:
    """Set the GLOBAL's spec.state; seconds until all N show it, Ready."""
    start = time.monotonic()
    await bench.control.merge_patch(instances_path(namespace, GLOBAL), {"spec": {"state": state}})
    what = f"operator: all {state}"
    done = await tracker.wait(names(items), settled_in(state), bench.timeout(len(items)), what)
    return done - start


async def _settle(bench: Bench, what: str) -> int:
    """Wait for the operator's trailing writes (batched children counts); the offset then."""
    return await bench.audit.quiet(
        OPERATOR_AGENTS, bench.quiet_seconds, SETTLE_TIMEOUT, f"{what} settle"
    )
