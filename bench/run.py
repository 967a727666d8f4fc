"""Benchmark hopper-operator against the floor: convergence, fan-out, API cost, memory.

Starts a local control plane (with an audit log, from which requests are counted), warms
it up with one unrecorded floor case, and for each size N and repetition runs (with
`--with-ideal`) the ideal and the design replay (hopperbench/ideal.py), the floor (a plain
client writing the end state with the fewest requests) and then the operator
(`hopper-operator run -n NS`, a separate process), each in a fresh namespace. Writes
bench/results/<timestamp>.json and prints markdown tables; `--write-results-md` rewrites
bench/RESULTS.md. Targets: hopperbench/report.py (issues 6 and 10).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from hopperbench.api import Api, tls_from_kubeconfig
from hopperbench.audit import POLICY, AuditLog
from hopperbench.cost import cost_markdown, cost_targets
from hopperbench.errors import BenchError
from hopperbench.ideal import run_ideal
from hopperbench.operator import operator_command
from hopperbench.report import markdown, summarize
from hopperbench.scenarios import Bench, run_floor, run_operator

from hopper_localcluster import ControlPlane, ControlPlaneError
from hopper_localcluster.crd import install_crd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
LOCK_NAME = "hopper-bench.lock"
WARM_UP_N = 1000
KEEP_MARKER = "<!-- bench/run.py rewrites everything above this line; notes below it stay. -->"


def parse_sizes(text: str, repeat: int) -> list[tuple[int, int]]:
    """ "100,1000,5000:1" -> [(100, R), (1000, R), (5000, 1)]."""
    sizes = []
    for part in text.split(","):
        n, _, count = part.strip().partition(":")
        sizes.append((int(n), int(count) if count else repeat))
    return sizes


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="100,1000",
        help="sizes N, comma-separated; N:R repeats that size R times",
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per size (default 3)")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=32, help="client requests in flight")
    parser.add_argument(
        "--quiet-seconds",
        type=float,
        default=8.0,
        help="a phase ends after this long without an operator write (> its batching delays)",
    )
    parser.add_argument("--timeout-base", type=float, default=120.0, help="seconds per wait")
    parser.add_argument(
        "--timeout-per-instance",
        type=float,
        default=0.3,
        help="plus this many seconds per instance",
    )
    parser.add_argument("--write-results-md", action="store_true", help="rewrite bench/RESULTS.md")
    parser.add_argument("--skip-floor", action="store_true", help="operator only (no ratios)")
    parser.add_argument(
        "--with-ideal",
        action="store_true",
        help="also time two plain clients: the fewest writes any operator needs (ideal), "
        "and the writes this design requires in its order (design replay)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the operator under pyinstrument (installed apart)",
    )
    parser.add_argument(
        "--webhooks",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the operator serves the admission webhooks, as deployed, and the design replay "
        "stores the metadata with the create (default); --no-webhooks: the design before them",
    )
    parser.add_argument(
        "--operator-command",
        type=shlex.split,
        default=None,
        help='the operator to run, for A/B experiments (default: "hopper-operator run")',
    )
    return parser.parse_args(argv)


# -- environment -------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    memory_gib = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_gib, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "kopf": metadata.version("kopf"),
        "aiohttp": metadata.version("aiohttp"),
        "platform": platform.platform(),
    }


def operator_source() -> str:
    """HEAD commit, plus a digest of the operator's sources when they differ from it.

    Others may edit the operator while a long run goes on: each case records what it ran.
    """
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "operator/hopper_operator"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not dirty:
        return head or "unknown"
    digest = hashlib.sha256()
    for path in sorted((ROOT / "operator" / "hopper_operator").rglob("*.py")):
        digest.update(path.read_bytes())
    return f"{head}+dirty:{digest.hexdigest()[:10]}"


# -- the run -----------------------------------------------------------------------------


class Run:
    """One benchmark run: its cases so far, saved after each one."""

    def __init__(self, args: argparse.Namespace, started: datetime) -> None:
        self.args = args
        self.stamp = started.strftime("%Y%m%dT%H%M%SZ")
        self.path = RESULTS / f"{self.stamp}.json"
        self.logs = RESULTS / f"{self.stamp}-logs"
        self.record: dict[str, Any] = {
            "started": started.isoformat(timespec="seconds"),
            "command": " ".join(["bench/run.py", *sys.argv[1:]]),
            "machine": machine(),
            "cases": [],
        }

    def add(self, case: dict[str, Any]) -> None:
        self.record["cases"].append(case)
        self.save()

    def save(self) -> None:
        self.record["summary"] = summarize(self.record["cases"])
        self.record["summary"]["cost"] = cost_targets(self.record["cases"])
        self.path.write_text(json.dumps(self.record, indent=2, default=str) + "\n")


async def bench_cases(run: Run, control_plane: ControlPlane) -> None:
    args = run.args
    server, tls = tls_from_kubeconfig(control_plane.kubeconfig)
    control = Api(server, tls, "hopper-bench/1", args.concurrency + 8)
    floor = Api(server, tls, "hopper-bench-floor/1", args.concurrency)
    ideal = Api(server, tls, "hopper-bench-ideal/1", args.concurrency)
    assert control_plane.audit_log is not None
    bench = Bench(
        control=control,
        floor=floor,
        audit=AuditLog(control_plane.audit_log),
        processes={**control_plane.processes, "bench": os.getpid()},
        env=control_plane.env(),
        operator_command=args.operator_command or operator_command(None),
        logs=run.logs,
        concurrency=args.concurrency,
        steady_seconds=args.steady_seconds,
        timeout_base=args.timeout_base,
        timeout_per_instance=args.timeout_per_instance,
        quiet_seconds=args.quiet_seconds,
        webhooks=args.webhooks,
    )
    try:
        await warm_up(bench)
        for n, repeat in parse_sizes(args.sizes, args.repeat):
            for rep in range(repeat):
                await one_repetition(run, bench, ideal, n, rep)
    finally:
        await control.close()
        await floor.close()
        await ideal.close()


async def warm_up(bench: Bench) -> None:
    """One floor case, not recorded, before the measured ones.

    A control plane started seconds ago runs its first case markedly slower (N = 1000:
    the first floor 5.3-5.6 s, the next ones 3.1-3.3 s, on a quiet machine): that case
    would be measured against a different machine than the others.
    """
    _say(f"warm-up: floor at N={WARM_UP_N} (not recorded)")
    await run_floor(bench, WARM_UP_N, "warm-up")


async def one_repetition(run: Run, bench: Bench, ideal: Api, n: int, rep: int) -> None:
    tag = f"n{n}-r{rep}"
    if run.args.with_ideal:
        _say(f"N={n} repetition {rep + 1}: ideal operator")
        load = os.getloadavg()[0]
        result = await run_ideal(bench, ideal, n, f"ideal-{tag}")
        run.add({"kind": "ideal", "n": n, "rep": rep, "load": [load, os.getloadavg()[0]], **result})
        _say(f"  ideal: {_brief(result)}")
        _say(f"N={n} repetition {rep + 1}: design replay")
        load = os.getloadavg()[0]
        result = await run_ideal(bench, ideal, n, f"design-{tag}", design=True)
        run.add(
            {"kind": "design", "n": n, "rep": rep, "load": [load, os.getloadavg()[0]], **result}
        )
        _say(f"  design replay: {_brief(result)}")
    if not run.args.skip_floor:
        _say(f"N={n} repetition {rep + 1}: floor")
        load = os.getloadavg()[0]
        floor = await run_floor(bench, n, f"floor-{tag}")
        run.add({"kind": "floor", "n": n, "rep": rep, "load": [load, os.getloadavg()[0]], **floor})
        _say(f"  floor: {_brief(floor)}")
    _say(f"N={n} repetition {rep + 1}: operator")
    if run.args.profile:
        bench.operator_command = operator_command(run.logs / f"profile-{tag}.pyisession")
    load, source = os.getloadavg()[0], operator_source()
    result = await run_operator(bench, n, f"op-{tag}", run.logs / f"operator-{tag}.log")
    case = {"kind": "operator", "n": n, "rep": rep, "source": source, **result}
    run.add({**case, "load": [load, os.getloadavg()[0]]})
    _say(f"  operator: {_brief(result)}")


def _brief(result: dict[str, Any]) -> str:
    times = ", ".join(
        f"{k} {v:.2f}s" for k, v in result.items() if k.endswith("_s") and isinstance(v, float)
    )
    if "operator" in result["cpu_s"]["create"]:
        times += f", operator CPU to Running {result['cpu_s']['create']['operator']:.1f}s"
    memory = result.get("memory_mb", {}).get("VmHWM")
    return times + (f", peak RSS {memory:.0f} MiB" if memory else "")


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- RESULTS.md --------------------------------------------------------------------------


def results_markdown(run: Run, table: str) -> str:
    m = run.record["machine"]
    kept = ""
    if RESULTS_MD.exists() and KEEP_MARKER in RESULTS_MD.read_text():
        kept = RESULTS_MD.read_text().split(KEEP_MARKER, 1)[1].lstrip("\n")
    return (
        "# Benchmark results\n\n"
        f"Latest run: `{run.record['command']}` on {run.record['started'][:10]} "
        f"(raw data: `bench/results/{run.stamp}.json`, not committed).\n\n"
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, "
        f"{m['platform']}. Python {m['python']}, kopf {m['kopf']}, aiohttp {m['aiohttp']}, "
        f"Kubernetes {run.record.get('kubernetes', '?')}. Operator source: {_sources(run)}.\n\n"
        "How to read it: the floor is a plain async client that creates the N objects and "
        "writes each one's status to the end state in one PATCH (and, for a fan-out, patches "
        "the GLOBAL and then every status). The operator's requests are counted from "
        "kube-apiserver's audit log (user agents `hopper-operator/` and `kopf/`, completed "
        "requests only); writes are create/update/patch/delete, Events included. Writes per "
        "instance are given two ways so that every ratio compares like with like: *own* "
        "leaves out the user's part (the create, or the GLOBAL's spec change: the bench makes "
        "them for the operator, the floor and the ideal make them themselves), *with the "
        "user's create* counts it for all three. Lease requests (leader election) are counted "
        "apart, per minute, and never in the per-instance figures.\n\n"
        f"{table}\n{KEEP_MARKER}\n\n{kept}"
    )


def _sources(run: Run) -> str:
    sources = sorted({c["source"] for c in run.record["cases"] if "source" in c})
    return ", ".join(f"`{s}`" for s in sources) or "?"


# -- main --------------------------------------------------------------------------------


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold the machine-wide bench lock: two runs at once would measure each other."""
    with Path(tempfile.gettempdir(), LOCK_NAME).open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            _say(f"another bench run holds {lock.name} ({lock.read().strip()}); waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}")
        lock.flush()
        yield  # closing the file (or the process ending) releases the lock


def _failed(run: Run, message: str, code: int) -> int:
    run.save()
    print(message, file=sys.stderr)
    print(f"partial results: {run.path}; logs: {run.logs}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    signal.signal(signal.SIGTERM, _terminate)
    with exclusive():
        return bench(args)


def bench(args: argparse.Namespace) -> int:
    run = Run(args, datetime.now(UTC))
    run.logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hopper-bench-") as scratch:
        policy = Path(scratch) / "audit-policy.yaml"
        policy.write_text(POLICY)
        control_plane = ControlPlane(audit_policy=policy)
        try:
            _say("starting the control plane")
            control_plane.start()
            run.record["kubernetes"] = control_plane.version().get("gitVersion")
            install_crd(control_plane.env())
            asyncio.run(bench_cases(run, control_plane))
        except (BenchError, ControlPlaneError, OSError) as error:
            return _failed(run, f"bench failed: {error}", 1)
        except (KeyboardInterrupt, SystemExit) as stop:
            code = stop.code if isinstance(stop, SystemExit) and isinstance(stop.code, int) else 130
            return _failed(run, "bench interrupted", code)
        finally:
            control_plane.stop()
    run.save()
    summary = run.record["summary"]
    table = markdown(summary) + "\n".join(cost_markdown(summary["cost"])) + "\n"
    print(f"\n{table}\nresults: {run.path}")
    if args.write_results_md:
        RESULTS_MD.write_text(results_markdown(run, table))
        print(f"wrote {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
