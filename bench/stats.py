"""Percentiles and the shape of a phase's figures."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarize_us(values_us: Sequence[int]) -> dict[str, float | int | None]:
    """p50/p90/p99/max/mean in milliseconds of microsecond samples."""
    ordered = sorted(values_us)
    if not ordered:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    ms = 1000.0
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 50) / ms, 3),
        "p90": round(percentile(ordered, 90) / ms, 3),
        "p99": round(percentile(ordered, 99) / ms, 3),
        "max": round(ordered[-1] / ms, 3),
        "mean": round(sum(ordered) / len(ordered) / ms, 3),
    }
