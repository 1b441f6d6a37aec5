"""The edge's spool: what a stopping edge could not publish, published by the next one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from contracts import KeyPress
from contracts.events import AnyEvent, CallEnded
from services.edge.spool import Spool, SpoolReplayer


def events(call: str = "c") -> list[AnyEvent]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    presses: list[AnyEvent] = [
        KeyPress(
            call_id=call, reply_to="edge-1", source="simulator", key=k, sequence=n, pressed_at=at
        )
        for n, k in enumerate("12#", 1)
    ]
    return [*presses, CallEnded(call_id=call, reply_to="edge-1", source="simulator")]


def test_saved_events_come_back_in_order_and_a_claimed_file_is_nobody_elses(
    tmp_path: Path,
) -> None:
    saved = events()
    Spool(tmp_path, owner="edge-1").save(saved)
    first = Spool(tmp_path, owner="edge-2")
    claimed = first.claim()
    assert len(claimed) == 1
    assert Spool.read(claimed[0]) == saved
    assert Spool(tmp_path, owner="edge-3").claim() == []  # this process's claim holds


def test_the_claim_of_a_process_that_died_is_taken_over(tmp_path: Path) -> None:
    Spool(tmp_path, owner="edge-1").save(events())
    # A process that exited: its pid is gone (it was reaped), as after a SIGKILL.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    [ready] = files(tmp_path)
    ready.rename(ready.with_name(ready.name + f".claimed-{dead.stdout.strip()}"))
    [taken] = Spool(tmp_path, owner="edge-2").claim()
    assert taken.name.endswith(f".claimed-{os.getpid()}")


def test_a_released_claim_is_ready_again(tmp_path: Path) -> None:
    Spool(tmp_path, owner="edge-1").save(events())
    spool = Spool(tmp_path, owner="edge-2")
    [claimed] = spool.claim()
    Spool.release(claimed)
    assert len(spool.claim()) == 1


def test_a_line_that_is_not_an_event_is_skipped_not_fatal(tmp_path: Path) -> None:
    Spool(tmp_path, owner="edge-1").save(events())
    [ready] = files(tmp_path)
    ready.write_bytes(ready.read_bytes() + b"not json\n")
    [claimed] = Spool(tmp_path, owner="edge-2").claim()
    assert len(Spool.read(claimed)) == 4


def files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


class Publisher:
    def __init__(self, expect: int) -> None:
        self.handed: list[AnyEvent] = []
        self.confirms: list[asyncio.Future[None]] = []
        self.all_handed = asyncio.Event()
        self._expect = expect

    def handoff(self, event: AnyEvent) -> asyncio.Future[None]:
        self.handed.append(event)
        future = asyncio.get_running_loop().create_future()
        self.confirms.append(future)
        if len(self.handed) == self._expect:
            self.all_handed.set()
        return future


async def test_the_replayer_removes_a_file_once_every_event_is_confirmed(tmp_path: Path) -> None:
    saved = events()
    Spool(tmp_path, owner="edge-1").save(saved)
    publisher = Publisher(expect=len(saved))
    replayer = SpoolReplayer(Spool(tmp_path, owner="edge-2"), publisher, interval_s=0.01)
    replayer.start()
    await asyncio.wait_for(publisher.all_handed.wait(), 5)
    assert publisher.handed == saved
    assert len(files(tmp_path)) == 1  # not confirmed yet: kept
    for future in publisher.confirms:
        future.set_result(None)
    await asyncio.wait_for(replayer.replayed.get(), 5)
    assert files(tmp_path) == []
    await replayer.stop(spooled_the_rest=True)


async def test_a_replay_cut_short_gives_its_file_back_unless_the_rest_was_spooled(
    tmp_path: Path,
) -> None:
    Spool(tmp_path, owner="edge-1").save(events())
    publisher = Publisher(expect=4)
    replayer = SpoolReplayer(Spool(tmp_path, owner="edge-2"), publisher, interval_s=0.01)
    replayer.start()
    await asyncio.wait_for(publisher.all_handed.wait(), 5)
    await replayer.stop(spooled_the_rest=False)  # the publisher could not spool: give back
    [back] = files(tmp_path)
    assert back.name.endswith(".jsonl")
