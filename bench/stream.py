"""Benchmark the Instance API's event stream: `python bench/stream.py [--n 1000] [--streams 100]`.

Its own local control plane; the operator and `hopper-operator api` as separate processes,
as deployed, and the streams read by a process of their own. Prints the figures judged
against issue 27's targets and writes bench/results/stream-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from hopperbench.report import targets_markdown
from hopperbench.stream import run_stream
from rest import on_own_plane

DELAY_P99_MS = 250.0  # over the reference watch's own arrival
RSS_KIB_PER_STREAM = 64.0
CONVERGENCE_WITH_STREAMS = 1.25  # the host's own drift between runs is about a quarter
WRITES_DRIFT = 0.05


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="instances in the namespace")
    parser.add_argument("--streams", type=int, default=100, help="streams open on it")
    parser.add_argument("--reps", type=int, default=2, help="cycles without, then with them")
    args = parser.parse_args(argv)
    result = on_own_plane(
        "stream", lambda plane, logs: run_stream(plane, args.n, args.streams, args.reps, logs)
    )
    rows = targets(result)
    print(report(result, rows))
    return 0 if all(row["met"] is not False for row in rows) else 1


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    got, pairs = result["delivery"], result["operator"]
    # per repetition, the slower of the pause and the resume, with the streams / without
    slowest = statistics.median(
        max(p["with streams"][k] / p["without streams"][k] for k in ("pause_s", "resume_s"))
        for p in pairs
    )
    alone, watched = (
        statistics.median(p[side]["instance_writes_per_instance"] for p in pairs)
        for side in ("without streams", "with streams")
    )
    return [
        {"target": f"delay p99 <= {DELAY_P99_MS:g} ms after the reference watch",
         "value": f"{got['delay_ms']['p99']} ms (p50 {got['delay_ms']['p50']} ms)",
         "met": got["delay_ms"]["p99"] <= DELAY_P99_MS},
        {"target": "every change on every stream, none lost, none twice",
         "value": f"{got['delivered']} of {got['expected']}: {got['lost']} lost, "
                  f"{got['doubled']} twice, {got['resets']} resets",
         "met": got["lost"] == got["doubled"] == got["resets"] == 0},
        {"target": f"API RSS <= {RSS_KIB_PER_STREAM:g} KiB per idle stream",
         "value": f"{result['rss_kib_per_stream']} KiB (median; each opening: "
                  + ", ".join(f"{kib} KiB" for kib in result["rss_kib_per_stream_each"]) + ")",
         "met": result["rss_kib_per_stream"] <= RSS_KIB_PER_STREAM},
        {"target": f"operator convergence with the streams <= {CONVERGENCE_WITH_STREAMS:g}x "
                   "without (noise)",
         "value": f"{slowest:.2f}x (median of {len(pairs)})",
         "met": slowest <= CONVERGENCE_WITH_STREAMS},
        {"target": "operator's instance writes per instance unchanged by the streams",
         "value": f"{watched:g} against {alone:g}",
         "met": abs(watched - alone) <= WRITES_DRIFT},
    ]  # fmt: skip


def report(record: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Event stream, N={record['n']}, {record['streams']} streams, the root paused then "
        f"resumed ({time.strftime('%Y-%m-%d')}):",
        "",
        f"delivery: {record['delivery']}",
        f"API RSS (MiB): {record['api_rss_mib']}, peak {record['api_peak_rss_mib']}",
        f"operator: {record['operator']}",
        f"the stream readers' own CPU (s), each opening: {record['readers_cpu_s']}",
        *targets_markdown("Targets (issue 27: the event stream)", rows),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
