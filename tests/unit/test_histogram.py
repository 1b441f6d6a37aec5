"""bench.histogram and bench.worker.Recorder: percentiles within the stated precision of the
exact nearest-rank ones (bench.stats), count/max/mean exact, and a fixed footprint."""

from __future__ import annotations

import json
import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.histogram import (
    BUCKETS,
    EXACT,
    PRECISION,
    Histogram,
    bucket_bounds,
    bucket_of,
    by_start,
    merged,
)
from bench.stats import percentile, summarize_us
from bench.worker import SLICE_ENV, Go, Recorder

QS = [0, 1, 50, 90, 99, 99.9, 100]


def exact(values: list[int], q: float) -> float:
    return percentile(sorted(values), q)


def assert_close(got: float, want: float) -> None:
    assert abs(got - want) <= want * PRECISION, (got, want)


def test_every_value_lies_in_its_bucket_within_the_precision() -> None:
    values = list(range(5000)) + [2**k + d for k in range(8, 32) for d in (-1, 0, 1)]
    values += [2**32 - 1]
    for v in values:
        lo, hi = bucket_bounds(bucket_of(v))
        assert lo <= v <= hi
        assert abs((lo + hi) / 2 - v) <= v * PRECISION
    assert bucket_of(2**32 - 1) == BUCKETS - 1 == bucket_of(2**40)
    assert PRECISION < 0.004


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**31), min_size=1, max_size=400))
def test_percentiles_within_the_precision_of_exact_ones(values: list[int]) -> None:
    h = Histogram()
    for v in values:
        h.record(v)
    for q, got in zip(QS, h.percentiles(QS), strict=True):
        assert_close(got, exact(values, q))
    assert h.count == len(values) and h.max == max(values) and h.total == sum(values)


def test_random_latencies_summarize_as_the_exact_samples_did() -> None:
    rng = random.Random(12)
    # like a soak window: mostly a few ms, a tail to hundreds of ms, some below 256 µs
    values = [int(rng.lognormvariate(8.3, 0.9)) for _ in range(100_000)]
    values += [rng.randrange(40, 256) for _ in range(2000)]
    h = Histogram()
    for v in values:
        h.record(v)
    got, want = h.summary_ms(), summarize_us(values)
    assert got["count"] == want["count"] and got["max"] == want["max"]
    assert got["mean"] == want["mean"]
    for key in ("p50", "p90", "p99"):
        # the figures are rounded to the µs, as before
        g, w = float(got[key] or 0), float(want[key] or 0)
        assert abs(g - w) <= w * PRECISION + 0.001, (key, got, want)


def test_exact_below_256_us() -> None:
    values = [random.Random(1).randrange(EXACT) for _ in range(999)]
    h = Histogram()
    for v in values:
        h.record(v)
    assert h.percentiles(QS) == [exact(values, q) for q in QS]


def test_empty_and_negative() -> None:
    assert Histogram().summary_ms()["p99"] is None
    h = Histogram()
    h.record(-5)  # a clock step: counted as 0
    assert h.percentiles([50]) == [0.0]


def test_merge_and_json_round_trip() -> None:
    rng = random.Random(3)
    parts = [[rng.randrange(10**7) for _ in range(500)] for _ in range(4)]
    hs = []
    for values in parts:
        h = Histogram()
        for v in values:
            h.record(v)
        hs.append(Histogram.from_json(json.loads(json.dumps(h.to_json()))))
    whole = merged(hs)
    flat = [v for values in parts for v in values]
    assert whole.count == len(flat) and whole.max == max(flat)
    for q, got in zip(QS, whole.percentiles(QS), strict=True):
        assert_close(got, exact(flat, q))


def test_footprint_is_fixed() -> None:
    h = Histogram()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for v in range(0, 10**8, 997):  # 100,000 values
            h.record(v)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 1024


def test_recorder_slices_by_when_the_press_was_made() -> None:
    go = Go(start=100.0, warmup=1.0, duration=30.0)
    rec = Recorder(go, slice_s=10.0)
    for i in range(300):
        t0 = 101.0 + i * 0.1
        rec.answered(t0, t0 + 0.002 + i * 1e-5, lag=0.0001)
    rec.answered(100.5, 100.6)  # warm-up: counted, not timed
    result = json.loads(json.dumps(rec.as_dict()))
    assert result["replies"] == 300 and result["total_presses"] == 301
    slices = by_start([result, result])  # two workers' results merge by slice
    assert sorted(slices) == [0.0, 10.0, 20.0]
    assert [slices[s].count for s in sorted(slices)] == [200, 200, 200]
    assert Histogram.from_json(result["lag"]).max == 100


def test_recorder_slices_are_1_s_in_a_bench_phase_and_few_in_a_long_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SLICE_ENV, raising=False)
    assert Recorder(Go(0.0, 1.0, 60.0)).slice_s == 1.0
    assert Recorder(Go(0.0, 1.0, 3600.0)).slice_s == 30.0
    monkeypatch.setenv(SLICE_ENV, "300")  # the soak: one slice per window
    assert Recorder(Go(0.0, 1.0, 3600.0)).slice_s == 300.0
