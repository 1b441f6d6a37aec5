"""`make demo`, exactly as the README tells a user to run it, against a private vhost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.billing.service import ASK, balance_sentence

ROOT = Path(__file__).resolve().parents[2]
# The menu names the keys served right now, billing's 3 included.
MENU = "Invalid input. Press 1 for Sales, 2 for Support or 3 for Billing."


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
        *[item for key in "90*#" for item in (f"caller presses {key}", f"agent says: {MENU}")],
        "caller presses 3",
        f"agent says: {ASK}",
        *[f"caller presses {key}" for key in "1234#"],
        f"agent says: {balance_sentence('1234')}",
        "call ended: 8 presses answered, 4 collected as input, 0 unanswered",
    ]
    assert "services stopped cleanly" in done.stdout
    records = [json.loads(line) for line in calllog.read_text().splitlines()]
    presses = [r for r in records if r["type"] == "key_press"]
    # Billing's account number is a sensitive input: the call log keeps only its length.
    keys = [p["key"] for p in sorted(presses, key=lambda p: p["sequence"])]
    assert keys == [*"1290*#3", *"xxxxx"]
    assert [p["collecting"] for p in presses if p["collecting"]] == ["account"] * 5
    [gathered] = [r for r in records if r["type"] == "gathered_input"]
    assert (gathered["name"], gathered["digits"], gathered["reason"], gathered["sensitive"]) == (
        "account",
        "xxxx",
        "finish_key",
        True,
    )
    assert {r["type"] for r in records} == {
        "call_started",
        "key_press",
        "gathered_input",
        "call_ended",
    }


@pytest.mark.e2e
def test_edge_refuses_a_bad_key_script_with_a_clear_error(amqp_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.cli", "edge", "--keys", "1,X"],
        env={**os.environ, "AMQP_URL": amqp_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid DTMF key 'X'" in done.stderr
