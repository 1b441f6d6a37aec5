"""`python -m bench.replyqueues` end to end with tiny numbers: the reply-queue bench works.

Five call starts per design on the local broker (in a vhost of its own), then the restart
phase on a private node. Every design must have its row, in the table and in the JSON; no
timing is asserted (a shared machine; the figures are the bench's job).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LABELS = {
    "ref": "ref: connection only",
    "quorum": "(a) quorum per call",
    "classic": "(b) classic durable per call",
    "exclusive": "(b') classic exclusive per call",
    "pod": "(c) quorum per pod, bound",
}
ROUND_KEYS = {
    "start_ms",
    "step_p50_ms",
    "broker_cpu_ms_per_start",
    "broker_live_cpu_us_per_s_per_call",
    "memory_kb_per_call",
    "teardown_ms",
    "cleanup_s",
}
RESTART_KEYS = {"queue_after_restart", "replies_kept_by_broker", "replies_out_after_restart"}


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_replyqueues_bench_has_every_design(tmp_path: Path) -> None:
    out = tmp_path / "replyqueues.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.replyqueues",
            "--broker",
            "local",
            "--calls",
            "5",
            "--wave",
            "5",
            "--hold",
            "0.5",
            "--idle",
            "0.2",
            "--expires-ms",
            "1000",
            "--restart-replies",
            "2",
            "--quiet-wait",
            "0",
            "--no-cluster",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"result: {out}" in done.stdout
    for label in LABELS.values():
        assert label in done.stdout, label

    doc = json.loads(out.read_text())
    rounds = {r["design"]: r for r in doc["rounds"]}
    assert set(rounds) == set(LABELS)
    for name, r in rounds.items():
        assert set(r) >= ROUND_KEYS, name
        assert r["calls"] == r["started"] == 5 and r["failed"] == 0, name
        assert r["start_ms"]["count"] == 5 and r["teardown_ms"]["count"] == 5, name
        assert r["cleanup_s"] is not None, name  # the broker dropped what the calls left
    assert set(doc["restart"]) == set(LABELS) - {"ref"}
    for name, r in doc["restart"].items():
        assert set(r) >= RESTART_KEYS, name
        assert r["replies_routed_before"] == 2, name
