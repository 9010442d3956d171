"""Small helpers: percentiles, the machine's description, RSS."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence


def summary(samples: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """min / median / p99 of `samples` (seconds) times `scale` (1e6 for µs, 1e3 for ms)."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {
        "min": ordered[0] * scale,
        "median": statistics.median(ordered) * scale,
        "p99": p99 * scale,
        "n": len(ordered),
    }


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {system}"


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="utf-8") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
