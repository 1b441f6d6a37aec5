"""A latency histogram of fixed size: log-linear buckets over microseconds.

The load workers (bench.worker.Recorder) used to keep every press's latency, schedule lag and
time, 24 bytes a press: an edge load generator grew by some 40 MB in a 30-minute soak, and
the soak had to subtract that from its memory slope. A `Histogram` is one array of
`BUCKETS` counters (26 KB), however many values it counts.

Buckets: one per microsecond below 256 µs (exact), then 128 per power of two up to 2**32 µs
(71 minutes; larger values count in the last bucket). A bucket [lo, hi] above 256 µs is
2**k µs wide with lo >= 128 * 2**k, so its midpoint is within 1/256 (0.39 %) of every value
in it. Percentiles are nearest-rank, as bench.stats.percentile: the midpoint of the bucket
that holds the ranked value, never above the exact maximum. So p50/p90/p99 are within 0.4 %
of the exact figure (exact below 256 µs); count, max and mean are exact.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

SUB_BITS = 7
SUB = 1 << SUB_BITS  # buckets per power of two above EXACT
EXACT = 2 * SUB  # values below this have a bucket each
MAX_BITS = 32
BUCKETS = EXACT + (MAX_BITS - SUB_BITS - 1) * SUB
PRECISION = 1 / (2 * SUB)  # a reported percentile is within this share of the exact one


def bucket_of(value: int) -> int:
    if value < EXACT:
        return max(value, 0)
    bits = value.bit_length()
    if bits > MAX_BITS:
        return BUCKETS - 1
    shift = bits - SUB_BITS - 1  # value >> shift is in [SUB, 2 * SUB)
    return EXACT + (shift - 1) * SUB + (value >> shift) - SUB


def bucket_bounds(index: int) -> tuple[int, int]:
    """The smallest and largest value bucket `index` counts."""
    if index < EXACT:
        return index, index
    octave, top = divmod(index - EXACT, SUB)
    shift = octave + 1
    lo = (SUB + top) << shift
    return lo, lo + (1 << shift) - 1


class Histogram:
    """Counts of microsecond values in BUCKETS log-linear buckets, with exact count, sum and
    maximum (see module)."""

    __slots__ = ("count", "counts", "max", "total")

    def __init__(self) -> None:
        self.counts = array("Q", [0]) * BUCKETS
        self.count = 0
        self.total = 0
        self.max = 0

    def record(self, value: int) -> None:
        value = max(value, 0)
        self.counts[bucket_of(value)] += 1
        self.count += 1
        self.total += value
        if value > self.max:
            self.max = value

    def merge(self, other: Histogram) -> None:
        counts = self.counts
        for i, n in enumerate(other.counts):
            if n:
                counts[i] += n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def percentiles(self, qs: list[float]) -> list[float]:
        """Nearest-rank percentiles (q in 0..100, ascending), in µs; NaN when empty."""
        if not self.count:
            return [math.nan for _ in qs]
        ranks = [max(1, math.ceil(q / 100.0 * self.count)) for q in qs]
        out: list[float] = []
        seen = 0
        for i, n in enumerate(self.counts):
            if not n:
                continue
            seen += n
            while len(out) < len(ranks) and ranks[len(out)] <= seen:
                lo, hi = bucket_bounds(i)
                out.append(min((lo + hi) / 2, float(self.max)))
            if len(out) == len(ranks):
                break
        return out

    def summary_ms(self) -> dict[str, float | int | None]:
        """p50/p90/p99/max/mean in milliseconds, as bench.stats.summarize_us."""
        if not self.count:
            return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
        p50, p90, p99 = self.percentiles([50, 90, 99])
        ms = 1000.0
        return {
            "count": self.count,
            "p50": round(p50 / ms, 3),
            "p90": round(p90 / ms, 3),
            "p99": round(p99 / ms, 3),
            "max": round(self.max / ms, 3),
            "mean": round(self.total / self.count / ms, 3),
        }

    def to_json(self) -> dict[str, Any]:
        """Sparse: only the buckets that counted something, as [index, count] pairs."""
        return {
            "count": self.count,
            "sum": self.total,
            "max": self.max,
            "buckets": [[i, n] for i, n in enumerate(self.counts) if n],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        h = cls()
        for i, n in data["buckets"]:
            h.counts[i] += n
        h.count, h.total, h.max = data["count"], data["sum"], data["max"]
        return h


def merged(histograms: list[Histogram]) -> Histogram:
    out = Histogram()
    for h in histograms:
        out.merge(h)
    return out


def by_start(results: list[dict[str, Any]]) -> dict[float, Histogram]:
    """The latency histograms of load workers' results (bench.worker.Recorder.as_dict), merged
    by the start of their slice, in seconds into the window."""
    out: dict[float, Histogram] = {}
    for r in results:
        for entry in r["latency"]:
            start = entry["slice"] * r["slice_s"]
            h = Histogram.from_json(entry)
            if start in out:
                out[start].merge(h)
            else:
                out[start] = h
    return out
