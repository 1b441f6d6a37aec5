"""`make demo`, exactly as the README tells a user to run it, against a private vhost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.menu.service import INVALID_INPUT

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_make_demo_runs_a_call_through_every_service(amqp_url: str, tmp_path: Path) -> None:
    calllog = tmp_path / "calllog.jsonl"
    env = {**os.environ, "AMQP_URL": amqp_url, "DTMF_CALLLOG_PATH": str(calllog)}
    done = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("[call 1]")]
    conversation = [line.split("] ", 1)[1] for line in lines[1:]]
    assert conversation == [
        "caller presses 1",
        "agent becomes: You are a Sales Representative",
        "agent says: Routing you to Sales...",
        "caller presses 2",
        "agent becomes: You are a Support Specialist",
        "agent says: Routing you to Support...",
        *[
            item
            for key in "90*#"
            for item in (f"caller presses {key}", f"agent says: {INVALID_INPUT}")
        ],
        "call ended: 6 of 6 presses answered",
    ]
    assert "services stopped cleanly" in done.stdout
    records = [json.loads(line) for line in calllog.read_text().splitlines()]
    assert [r["type"] for r in records].count("key_press") == 6
    assert {r["type"] for r in records} == {"call_started", "key_press", "call_ended"}
    assert sorted(r["key"] for r in records if r["type"] == "key_press") == sorted("1290*#")


@pytest.mark.e2e
def test_edge_refuses_a_bad_key_script_with_a_clear_error(amqp_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "edge", "--keys", "1,X"],
        env={**os.environ, "AMQP_URL": amqp_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid DTMF key 'X'" in done.stderr
