"""A local spool for events an edge process could not publish before it ended.

In register mode every call is a process of its own and ends at hang-up, often while the
broker is away or not confirming. Its unconfirmed events are written here (one file per
stop, synced to disk) and the next edge process of the pod publishes them: every live edge
looks for orphaned files now and then. A file is claimed by renaming it, so one process
replays it; a claim whose process is gone (killed mid-replay) is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from contracts.events import AnyEvent, parse_event
from services.edge.publisher import PublishBufferFull

log = logging.getLogger(__name__)

READY = ".jsonl"
CLAIMED = ".claimed-"


class Spool:
    def __init__(self, directory: Path, *, owner: str) -> None:
        self.directory = directory
        self._owner = owner

    def save(self, events: list[AnyEvent]) -> None:
        """Write the events as one file, durably, and only then make it visible."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{self._owner}-{uuid.uuid4().hex[:6]}{READY}"
        tmp = self.directory / (name + ".tmp")
        with tmp.open("wb") as out:
            for event in events:
                out.write(event.model_dump_json().encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.rename(self.directory / name)
        _sync_directory(self.directory)

    def claim(self) -> list[Path]:
        """Files for this process to replay, oldest first, each renamed to mark it ours."""
        if not self.directory.is_dir():
            return []
        mine = f"{CLAIMED}{os.getpid()}"
        claimed = []
        for path in sorted(self.directory.iterdir()):
            if path.name.endswith(READY):
                base = path.name
            elif CLAIMED in path.name and not _alive(path.name.rsplit(CLAIMED, 1)[1]):
                base = path.name.rsplit(CLAIMED, 1)[0]
            else:
                continue
            target = path.with_name(base + mine)
            try:
                path.rename(target)  # atomic: of two processes, one wins
            except FileNotFoundError:
                continue
            claimed.append(target)
        return claimed

    @staticmethod
    def read(path: Path) -> list[AnyEvent]:
        events = []
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            try:
                events.append(parse_event(line))
            except (ValidationError, ValueError) as error:
                log.error("spool %s line %d is not an event (%s): skipped", path, number, error)
        return events

    @staticmethod
    def release(path: Path) -> None:
        """Give a claimed file back, for a later process to replay."""
        path.rename(path.with_name(path.name.rsplit(CLAIMED, 1)[0]))


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Handoff(Protocol):
    def handoff(self, event: AnyEvent) -> asyncio.Future[None]: ...


@dataclass
class _Replay:
    path: Path
    task: asyncio.Task[None] | None = None
    handed_all: bool = False  # every event is the publisher's now (confirmed or spooled)


class SpoolReplayer:
    """Publishes spooled files through the edge's publisher; a file is removed once every
    event in it was confirmed."""

    def __init__(self, spool: Spool, publisher: Handoff, *, interval_s: float = 5.0) -> None:
        self._spool = spool
        self._publisher = publisher
        self._interval = interval_s
        self._replays: list[_Replay] = []
        self._task: asyncio.Task[None] | None = None
        self.replayed: asyncio.Queue[Path] = asyncio.Queue()  # files done, for who watches

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            for path in await asyncio.to_thread(self._spool.claim):
                log.info("replaying spooled events of %s", path.name)
                replay = _Replay(path)
                replay.task = asyncio.get_running_loop().create_task(self._replay(replay))
                self._replays.append(replay)
            self._replays = [r for r in self._replays if r.task and not r.task.done()]
            await asyncio.sleep(self._interval)  # a pace, not a wait for a result

    async def _replay(self, replay: _Replay) -> None:
        path = replay.path
        events = await asyncio.to_thread(self._spool.read, path)
        confirmed = []
        for event in events:
            while True:
                try:
                    confirmed.append(self._publisher.handoff(event))
                    break
                except PublishBufferFull:
                    await asyncio.sleep(self._interval)  # room comes back as events confirm
        replay.handed_all = True
        await asyncio.gather(*confirmed)
        await asyncio.to_thread(path.unlink)
        log.info("spooled events of %s published (%d)", path.name, len(events))
        self.replayed.put_nowait(path)

    async def stop(self, *, spooled_the_rest: bool) -> None:
        """Called after the publisher stopped. What it had not confirmed of a claimed file
        is in its own new spool file then, so the claimed file goes; if that failed, or
        not all of the file was handed over yet, the claimed file is given back whole (a
        replay may then publish some events twice: consumers absorb that by event id)."""
        tasks = [r.task for r in self._replays if r.task is not None]
        if self._task is not None:
            tasks.append(self._task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for replay in self._replays:
            if replay.task is None or not replay.task.cancelled():
                continue
            with contextlib.suppress(FileNotFoundError):
                if spooled_the_rest and replay.handed_all:
                    replay.path.unlink()
                else:
                    self._spool.release(replay.path)
