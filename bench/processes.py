"""The processes the benchmark starts: their environment, spawning, the line protocol with
load workers (see bench.worker) and stopping them all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.procstat import Meter

ROOT = Path(__file__).resolve().parents[1]


def process_env(
    url: str, run_dir: Path, *, reply_timeout: float, prefetch: int | None
) -> dict[str, str]:
    """The environment of every process the benchmark starts: this one's, pointed at the
    private vhost and the run directory."""
    env = dict(os.environ)
    env.update(
        {
            "AMQP_URL": url,
            "DTMF_HTTP_PORT": "-1",  # no metrics port: nothing to clash with
            "DTMF_CALLLOG_PATH": str(run_dir / "calllog.jsonl"),
            # The run's own spool: an edge must not replay another run's events into this vhost.
            "DTMF_SPOOL_DIR": str(run_dir / "spool"),
            "DTMF_REPLY_TIMEOUT_S": str(reply_timeout),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        }
    )
    env.pop("DTMF_EDGE_ID", None)  # every edge process needs its own reply queue
    if prefetch is not None:
        env["DTMF_PREFETCH"] = str(prefetch)
    return env


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Proc:
    name: str
    proc: asyncio.subprocess.Process
    log_path: Path
    result_path: Path | None = None

    async def next_event(self, expected: str, *, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self.name}: no '{expected}' within {timeout:.0f}s")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            except TimeoutError:
                continue
            if not line:
                await self.proc.wait()
                raise BenchError(
                    f"{self.name} exited ({self.proc.returncode}) before '{expected}'; "
                    f"last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue  # not protocol: ignore stray output
            if msg.get("event") == expected:
                return dict(msg)

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())


class Processes:
    """Every process started for one run, each logging to run_dir/<name>.log, so that
    `kill_all` leaves none behind."""

    def __init__(self, *, env: dict[str, str], run_dir: Path, meter: Meter) -> None:
        self.env = env
        self.run_dir = run_dir
        self.meter = meter
        self._procs: list[Proc] = []

    async def spawn(
        self, name: str, *argv: str, worker: bool = False, env: dict[str, str] | None = None
    ) -> Proc:
        """`python -m <argv>`; a worker speaks the line protocol on its stdin/stdout. `env`
        adds to (or overrides) the run's environment for this process."""
        log_path = self.run_dir / f"{name}.log"
        with log_path.open("ab") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                *argv,
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdin=asyncio.subprocess.PIPE if worker else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if worker else log_file,
                stderr=log_file,
            )
        p = Proc(name, proc, log_path)
        self._procs.append(p)
        return p

    async def start_ready(self, spawns: Iterable[Callable[[], Awaitable[Proc]]]) -> list[Proc]:
        """Start each process, wait until each says it is ready, then measure it; if any
        fails, stop those already started."""
        started: list[Proc] = []
        try:
            for spawn in spawns:
                started.append(await spawn())
            for p in started:
                await p.next_event("ready", timeout=60)
                self.meter.track(p.name, p.proc.pid)
        except BaseException:
            await self.stop(started, timeout=5)
            raise
        return started

    async def stop(
        self, procs: Sequence[Proc], *, timeout: float = 15.0, grace: float = 0.0
    ) -> dict[str, int]:
        """Exit codes, after `grace` seconds to exit by themselves, then SIGTERM (a process
        that still hangs is killed: -9)."""
        if grace > 0:
            await asyncio.wait([asyncio.ensure_future(p.proc.wait()) for p in procs], timeout=grace)
        for p in procs:
            if p.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.proc.send_signal(signal.SIGTERM)
        codes = {}
        for p in procs:
            try:
                codes[p.name] = await asyncio.wait_for(p.proc.wait(), timeout)
            except TimeoutError:
                p.proc.kill()
                await p.proc.wait()
                codes[p.name] = -9
            self.meter.forget(p.name)
        return codes

    async def kill_all(self) -> None:
        for p in self._procs:
            if p.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.proc.kill()
                await p.proc.wait()
