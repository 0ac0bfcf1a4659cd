"""What a figure was measured on, and small statistics shared by the benchmarks."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path

CPUINFO_PATH = Path("/proc/cpuinfo")


def cpu_model() -> str:
    """The first ``model name`` of /proc/cpuinfo, or the platform's processor name."""
    try:
        for line in CPUINFO_PATH.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cpus() -> int:
    """CPUs this process may run on (what ``nproc`` prints)."""
    return len(os.sched_getaffinity(0))


def describe_machine() -> str:
    return (
        f"machine: {usable_cpus()} CPU(s) (nproc), {cpu_model()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (need not be sorted); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def verdict(value: float, *, target: float, higher_is_better: bool) -> str:
    """``met`` or ``missed by N%`` for a figure against its target."""
    is_met = value >= target if higher_is_better else value <= target
    if is_met:
        return "met"
    gap = (target - value) / target if higher_is_better else (value - target) / target
    return f"missed by {gap:.0%}"
