"""CPU seconds and memory of processes, from /proc: who spent the machine's time."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far (children not included)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of proc(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """VmHWM (the true peak RSS so far) and VmRSS, in MiB."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_windows(
    snapshots: Sequence[Mapping[str, float]], labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """CPU seconds each process spent in each window between consecutive snapshots."""
    return {
        label: {
            name: round(snapshots[i + 1][name] - snapshots[i][name], 2) for name in snapshots[i]
        }
        for i, label in enumerate(labels)
    }
