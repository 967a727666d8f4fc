"""Summaries over repetitions, the targets of issue 6, and the markdown tables."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from hopperbench.audit import WRITE_VERBS, total, writes

TARGET_N = 1000
LARGE_N = 5000
FLAT_REQUESTS = 1.10  # requests per instance may grow at most 10% from 1000 to 5000
FLAT_TIME = 1.50  # convergence time per instance, relative to the floor's, at most +50%

Case = dict[str, Any]
Metric = Callable[[Case], float]


def spread(values: Iterable[float]) -> dict[str, float]:
    data = list(values)
    return {"median": statistics.median(data), "min": min(data), "max": max(data)}


def per_instance(window: str, count: Callable[[Counter[str]], int]) -> Metric:
    return lambda case: count(Counter(case["requests"][window])) / case["n"]


def steady_per_minute(count: Callable[[Counter[str]], int]) -> Metric:
    return lambda case: count(Counter(case["requests"]["steady"])) * 60 / case["steady_s"]


def _field(name: str) -> Metric:
    return lambda case: float(case[name])


def _cpu(window: str, process: str) -> Metric:
    return lambda case: float(case["cpu_s"][window][process])


def _peak_rss(case: Case) -> float:
    return float(case["memory_mb"]["VmHWM"])


# (label, metric, has a floor to compare with)
ROWS: list[tuple[str, Metric, bool]] = [
    ("convergence (s)", _field("convergence_s"), True),
    ("pause fan-out (s)", _field("pause_s"), True),
    ("resume fan-out (s)", _field("resume_s"), True),
    ("writes / instance to Running", per_instance("create", writes), True),
    ("requests / instance to Running", per_instance("create", total), True),
    ("writes / instance, pause", per_instance("pause", writes), True),
    ("writes / instance, resume", per_instance("resume", writes), True),
    ("steady requests / min", steady_per_minute(total), False),
    ("steady writes / min", steady_per_minute(writes), False),
    ("peak RSS (MiB, VmHWM)", _peak_rss, False),
    (
        "operator CPU (s), to Running",
        lambda case: float(case["cpu_s"]["create"]["operator"]),
        False,
    ),
    ("operator CPU (s), pause", lambda case: float(case["cpu_s"]["pause"]["operator"]), False),
    (
        "kube-apiserver CPU (s), to Running",
        lambda case: float(case["cpu_s"]["create"]["kube-apiserver"]),
        True,
    ),
    ("all CPU (s), to Running", lambda case: float(sum(case["cpu_s"]["create"].values())), True),
]


def pairs(cases: list[Case], n: int) -> list[tuple[Case, Case]]:
    """(operator, floor) of the same repetition, for size n."""
    by_rep: dict[int, dict[str, Case]] = {}
    for case in cases:
        if case["n"] == n:
            by_rep.setdefault(case["rep"], {})[case["kind"]] = case
    return [(c["operator"], c["floor"]) for c in by_rep.values() if {"operator", "floor"} <= set(c)]


def _ideal(cases: list[Case], n: int) -> dict[str, Any] | None:
    """The ideal operator against the floor of the same repetition, if it ran."""
    floors = {c["rep"]: c for c in cases if c["n"] == n and c["kind"] == "floor"}
    runs = [
        (c, floors[c["rep"]])
        for c in cases
        if c["n"] == n and c["kind"] == "ideal" and c["rep"] in floors
    ]
    if not runs:
        return None
    rows = {}
    for label, metric in (
        ("convergence (s)", _field("convergence_s")),
        ("writes / instance to Running", per_instance("create", writes)),
        ("kube-apiserver CPU (s), to Running", _cpu("create", "kube-apiserver")),
    ):
        rows[label] = {
            "operator": spread(metric(i) for i, _ in runs),
            "floor": spread(metric(f) for _, f in runs),
            "ratio": spread(_ratio(metric(i), metric(f)) for i, f in runs),
        }
    return rows


def summarize(cases: list[Case]) -> dict[str, Any]:
    sizes = sorted({case["n"] for case in cases})
    summary: dict[str, Any] = {"sizes": {}}
    for n in sizes:
        runs = pairs(cases, n)
        if not runs:
            continue
        rows: dict[str, Any] = {}
        for label, metric, floored in ROWS:
            row = {"operator": spread(metric(op) for op, _ in runs)}
            if floored:
                row["floor"] = spread(metric(fl) for _, fl in runs)
                ratios = [_ratio(metric(op), metric(fl)) for op, fl in runs]
                row["ratio"] = spread(ratios)
            rows[label] = row
        summary["sizes"][n] = {
            "repetitions": len(runs),
            "rows": rows,
            "breakdown": _breakdown([op for op, _ in runs]),
            "ideal": _ideal(cases, n),
        }
    summary["targets"] = targets(summary["sizes"])
    return summary


def _ratio(value: float, floor: float) -> float:
    return value / floor if floor else float("inf") if value else 1.0


def _breakdown(runs: list[Case]) -> dict[str, dict[str, float]]:
    """Median requests per instance (per minute for steady) by window and verb/resource."""
    out: dict[str, dict[str, float]] = {}
    for window in ("create", "pause", "resume", "steady"):
        keys = sorted({key for run in runs for key in run["requests"][window]})
        out[window] = {
            key: statistics.median(_scaled(run, window, key) for run in runs) for key in keys
        }
    return out


def _scaled(run: Case, window: str, key: str) -> float:
    count = float(run["requests"][window].get(key, 0))
    return count * 60 / float(run["steady_s"]) if window == "steady" else count / int(run["n"])


def targets(sizes: dict[int, Any]) -> list[dict[str, Any]]:
    at = sizes.get(TARGET_N)
    if at is None:
        return [{"target": f"targets are judged at N={TARGET_N}", "value": "not run", "met": None}]
    rows = at["rows"]
    result = [
        _target("convergence <= 2x floor", rows["convergence (s)"]["ratio"]["median"], 2.0, "x"),
        _target(
            "pause fan-out <= 2x floor", rows["pause fan-out (s)"]["ratio"]["median"], 2.0, "x"
        ),
        _target(
            "writes / instance to Running <= 6",
            rows["writes / instance to Running"]["operator"]["median"],
            6.0,
            "",
        ),
        _target(
            "0 writes in steady state", rows["steady writes / min"]["operator"]["max"], 0.0, "/min"
        ),
        _target(
            "peak RSS < 150 MiB", rows["peak RSS (MiB, VmHWM)"]["operator"]["max"], 149.999, " MiB"
        ),
    ]
    result.append(_flatness(at, sizes.get(LARGE_N)))
    return result


def _target(name: str, value: float, limit: float, unit: str) -> dict[str, Any]:
    return {"target": name, "value": f"{value:.2f}{unit}", "met": value <= limit}


def _flatness(at: dict[str, Any], large: dict[str, Any] | None) -> dict[str, Any]:
    name = (
        f"cost per instance flat {TARGET_N} -> {LARGE_N} (requests <= +{FLAT_REQUESTS - 1:.0%}, "
        f"convergence/floor <= +{FLAT_TIME - 1:.0%})"
    )
    if large is None:
        return {"target": name, "value": f"N={LARGE_N} not run", "met": None}
    key = "requests / instance to Running"
    requests = large["rows"][key]["operator"]["median"] / at["rows"][key]["operator"]["median"]
    conv = "convergence (s)"
    time_ratio = large["rows"][conv]["ratio"]["median"] / at["rows"][conv]["ratio"]["median"]
    value = f"requests x{requests:.2f}, convergence/floor x{time_ratio:.2f}"
    return {
        "target": name,
        "value": value,
        "met": requests <= FLAT_REQUESTS and time_ratio <= FLAT_TIME,
    }


# -- markdown ----------------------------------------------------------------------------


def _fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _cell(s: dict[str, float] | None) -> str:
    if s is None:
        return "-"
    if s["min"] == s["max"]:
        return _fmt(s["median"])
    return f"{_fmt(s['median'])} [{_fmt(s['min'])}-{_fmt(s['max'])}]"


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else "**met**" if met else "**MISSED**"


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "Each cell: median [min-max] over repetitions; ratio = operator / floor of the same "
        "repetition.",
        "",
        "| N | metric | operator | floor | ratio |",
        "|---:|---|---:|---:|---:|",
    ]
    for n, size in summary["sizes"].items():
        for label, row in size["rows"].items():
            lines.append(
                f"| {n} (x{size['repetitions']}) | {label} | {_cell(row['operator'])} | "
                f"{_cell(row.get('floor'))} | {_cell(row.get('ratio'))} |"
            )
    lines += ideal_markdown(summary)
    lines += ["", "### Targets (N = 1000)", "", "| target | value | verdict |", "|---|---|---|"]
    lines += [
        f"| {t['target']} | {t['value']} | {_verdict(t['met'])} |" for t in summary["targets"]
    ]
    lines += ["", *breakdown_markdown(summary)]
    return "\n".join(lines) + "\n"


def ideal_markdown(summary: dict[str, Any]) -> list[str]:
    sizes = {n: size["ideal"] for n, size in summary["sizes"].items() if size.get("ideal")}
    if not sizes:
        return []
    lines = [
        "",
        "### Ideal operator (a plain client making only the writes the design requires)",
        "",
        "| N | metric | ideal | floor | ratio |",
        "|---:|---|---:|---:|---:|",
    ]
    for n, rows in sizes.items():
        for label, row in rows.items():
            cells = " | ".join(_cell(row[k]) for k in ("operator", "floor", "ratio"))
            lines.append(f"| {n} | {label} | {cells} |")
    return lines


def breakdown_markdown(summary: dict[str, Any]) -> list[str]:
    lines = [
        "### Operator requests by verb and resource (median; per instance, steady per minute)",
        "",
        "| N | verb resource | to Running | pause | resume | steady / min |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for n, size in summary["sizes"].items():
        windows = size["breakdown"]
        keys = sorted({k for w in windows.values() for k in w}, key=_write_first)
        for key in keys:
            cells = " | ".join(
                _fmt(windows[w].get(key, 0.0)) for w in ("create", "pause", "resume", "steady")
            )
            lines.append(f"| {n} | {key} | {cells} |")
    return lines


def _write_first(key: str) -> tuple[bool, str]:
    return key.split(" ", 1)[0] not in WRITE_VERBS, key
