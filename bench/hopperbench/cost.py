"""The operator's own cost against its design (issue 22): each figure beside its target.

The design replay makes this design's writes, in its order, with no operator work: what
the operator adds on top of it (time, kube-apiserver CPU serving its watches and lists)
is its own cost. Ratios are taken per repetition (the operator and the replay of the same
repetition share a warm control plane and the machine's moment), then the median.
"""

from __future__ import annotations

import statistics
from typing import Any

from hopperbench.audit import writes
from hopperbench.report import (
    TARGET_N,
    Case,
    Metric,
    _cpu,
    _field,
    _operator_cpu_ms,
    _peak_rss,
    own_writes,
    spread,
    steady_per_minute,
    targets_markdown,
)

CONVERGENCE_OVER_REPLAY = 1.2
APISERVER_CPU_OVER_REPLAY = 1.15
OPERATOR_CPU_MS = 5.0
RSS_KIB_PER_INSTANCE = 8.0
WRITES_TO_RUNNING = 4.05  # the last round's 4.04: unchanged or fewer


def _by_rep(cases: list[Case], n: int, kind: str) -> dict[int, Case]:
    return {c["rep"]: c for c in cases if c["n"] == n and c["kind"] == kind}


def _over_replay(cases: list[Case], n: int, metric: Metric) -> dict[str, float] | None:
    operators, replays = _by_rep(cases, n, "operator"), _by_rep(cases, n, "design")
    ratios = [metric(operators[r]) / metric(replays[r]) for r in operators if r in replays]
    return spread(ratios) if ratios else None


def _row(target: str, value: dict[str, float] | None, limit: float, unit: str) -> dict[str, Any]:
    if value is None:
        return {"target": target, "value": "not run", "met": None}
    return {
        "target": target,
        "value": f"{value['median']:.2f}{unit} [{value['min']:.2f}-{value['max']:.2f}]",
        "met": value["median"] <= limit,
    }


def cost_targets(cases: list[Case]) -> list[dict[str, Any]]:
    operators = [c for c in cases if c["n"] == TARGET_N and c["kind"] == "operator"]
    if not operators:
        return [{"target": f"judged at N = {TARGET_N}", "value": "not run", "met": None}]
    rows = [
        _row(
            f"convergence <= {CONVERGENCE_OVER_REPLAY:g}x the design replay's",
            _over_replay(cases, TARGET_N, _field("convergence_s")),
            CONVERGENCE_OVER_REPLAY,
            "x",
        ),
        _row(
            f"kube-apiserver CPU to Running <= {APISERVER_CPU_OVER_REPLAY:g}x the replay's",
            _over_replay(cases, TARGET_N, _cpu("create", "kube-apiserver")),
            APISERVER_CPU_OVER_REPLAY,
            "x",
        ),
        _row(
            f"operator CPU to Running <= {OPERATOR_CPU_MS:g} ms / instance",
            spread(_operator_cpu_ms(c) for c in operators),
            OPERATOR_CPU_MS,
            " ms",
        ),
        _row(
            f"operator writes / instance to Running <= {WRITES_TO_RUNNING:g}",
            spread(own_writes("create")(c) for c in operators),
            WRITES_TO_RUNNING,
            "",
        ),
        _row(
            "0 writes in steady state (Lease renewals apart)",
            spread(steady_per_minute(writes)(c) for c in operators),
            0.0,
            " / min",
        ),
    ]
    return [*rows, _rss_growth(cases, operators)]


def _rss_growth(cases: list[Case], at: list[Case]) -> dict[str, Any]:
    target = f"peak RSS growth <= {RSS_KIB_PER_INSTANCE:g} KiB / instance from N = {TARGET_N}"
    larger = sorted({c["n"] for c in cases if c["kind"] == "operator" and c["n"] > TARGET_N})
    if not larger:
        return {"target": target, "value": f"no N above {TARGET_N} run", "met": None}
    n = larger[-1]
    large = [c for c in cases if c["n"] == n and c["kind"] == "operator"]
    mib = statistics.median(map(_peak_rss, large)) - statistics.median(map(_peak_rss, at))
    kib = mib * 1024 / (n - TARGET_N)
    return {
        "target": target,
        "value": f"{kib:.1f} KiB (to N = {n}: +{mib:.0f} MiB)",
        "met": kib <= RSS_KIB_PER_INSTANCE,
    }


def cost_markdown(targets: list[dict[str, Any]]) -> list[str]:
    return targets_markdown(
        f"Targets (issue 22: the operator against its design, N = {TARGET_N})",
        targets,
        "Median [min-max] over repetitions; ratios per repetition, operator / design replay.",
    )
