"""Benchmark the REST Instance API: `python bench/rest.py [--n 1000] [--reads 200]`.

Its own local control plane; the operator and `hopper-operator api` as separate processes,
as deployed. Prints the figures and writes bench/results/rest-<timestamp>.json. Target
(issue 20): through the API, p50 within 1.5x of the same read straight from kube-apiserver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hopperbench.rest import run_rest
from run import RESULTS, exclusive, machine

from hopper_localcluster import ControlPlane
from hopper_localcluster.crd import install_crd

Work = Callable[[ControlPlane, Path], Coroutine[Any, Any, dict[str, Any]]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="instances in the listed tree")
    parser.add_argument("--reads", type=int, default=200, help="timed reads per way")
    parser.add_argument("--concurrent", type=int, default=200, help="lifecycle requests at once")
    args = parser.parse_args(argv)
    record = on_own_plane(
        "rest", lambda plane, logs: run_rest(plane, args.n, args.reads, args.concurrent, logs)
    )
    print(report(record))
    return 0 if record["lifecycle"]["errors"] == 0 else 1


def on_own_plane(kind: str, work: Work) -> dict[str, Any]:
    """`work` on a local control plane of its own, with the machine-wide bench lock held
    and its logs in bench/results/KIND-STAMP-logs; its record written to KIND-STAMP.json."""
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    with exclusive():
        plane = ControlPlane()
        plane.start()
        try:
            install_crd(plane.env())
            logs = RESULTS / f"{kind}-{stamp}-logs"
            logs.mkdir(parents=True, exist_ok=True)
            result = asyncio.run(work(plane, logs))
        finally:
            plane.stop()
    record = {"started": started.isoformat(timespec="seconds"), "machine": machine(),
              "command": " ".join([f"bench/{kind}.py", *sys.argv[1:]]), **result}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{kind}-{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def table(record: dict[str, object], first: str, second: str, cases: dict[str, str]) -> list[str]:
    """A comparison table: each case's `api` side under `first`, its `direct` under `second`."""
    lines = [f"| read | {first} p50 ms | {first} p99 ms | {second} p50 ms | {second} p99 ms "
             "| p50 ratio |", "|---|---|---|---|---|---|"]  # fmt: skip
    for key, title in cases.items():
        case = record[key]
        assert isinstance(case, dict)
        api, direct = case["api"], case["direct"]
        lines.append(f"| {title} | {api['p50_ms']} | {api['p99_ms']} | {direct['p50_ms']} | "
                     f"{direct['p99_ms']} | {case['p50_ratio']} |")  # fmt: skip
    return lines


def report(record: dict[str, object]) -> str:
    lines = [f"REST Instance API, N={record['n']}, {record['reads']} reads per way "
             f"({time.strftime('%Y-%m-%d')}):", ""]  # fmt: skip
    lines += table(
        record,
        "API",
        "direct",
        {"get_one": "GET one instance", "list_filtered": "list scope=PROJECT, 100 of N"},
    )
    lines += ["", "MCP tools (POST /mcp) against the REST routes, same run:", ""]
    lines += table(record, "MCP", "REST", {
        "mcp_get_one": "hopper_get_instance / GET one",
        "mcp_list_filtered": "hopper_list_instances / list, 100 of N",
    })  # fmt: skip
    lines += [
        "",
        f"MCP idle sessions: {record['mcp_idle']}",
        f"lifecycle: {record['lifecycle']}",
        f"API memory (MiB): {record['api_memory_mb']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
