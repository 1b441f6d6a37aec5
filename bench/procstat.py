"""CPU time and memory of processes, read from /proc (no psutil needed).

A `Meter` follows a set of named pids: `begin()` and `end()` bracket a measurement
window and give each process's CPU seconds in it, while a background task samples
resident memory so each window also gets a peak RSS. A `Sampler` keeps a series of the
meter's processes' RSS and CPU over a long window (bench.soak).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads); None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLK_TCK


def rss_bytes(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/statm").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(text.split()[1]) * PAGE


def status_kb(pid: int, key: str) -> int | None:
    """A `kB` field of /proc/<pid>/status, e.g. VmHWM (the kernel's own peak RSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on a TCP port (IPv4 or IPv6), from /proc/net/tcp*."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def _owns_socket(pid: str, inodes: set[str]) -> bool:
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
    except OSError:
        return False
    return False


def find_broker_pid(port: int = 5672) -> int | None:
    """The Erlang VM running RabbitMQ (beam.smp with `-s rabbit boot`) on this machine: the
    one listening on `port` when that can be seen, else the first one found."""
    candidates = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"beam.smp") and b"rabbit" in argv:
            candidates.append(entry.name)
    if len(candidates) > 1:
        inodes = _listening_inodes(port)
        for pid in candidates:
            if _owns_socket(pid, inodes):
                return int(pid)
    return int(candidates[0]) if candidates else None


@dataclass
class ProcessUsage:
    pid: int
    cpu_s: float
    peak_rss_bytes: int

    def as_dict(self, window_s: float) -> dict[str, float | int]:
        return {
            "pid": self.pid,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_pct": round(100.0 * self.cpu_s / window_s, 1) if window_s > 0 else 0.0,
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
        }


@dataclass
class Window:
    seconds: float
    machine_busy_pct: float  # of all cores: 200% is both cores of this machine busy
    processes: dict[str, ProcessUsage] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        ours = sum(100.0 * u.cpu_s / self.seconds for u in self.processes.values())
        return {
            "seconds": round(self.seconds, 3),
            "machine_cpu_pct": round(self.machine_busy_pct, 1),
            # CPU used by processes the bench does not follow: another job on the machine
            # makes every figure of the window pessimistic.
            "other_cpu_pct": round(max(0.0, self.machine_busy_pct - ours), 1),
            "cores": os.cpu_count(),
            "processes": {n: u.as_dict(self.seconds) for n, u in self.processes.items()},
        }


class Meter:
    """Per-window CPU seconds and peak RSS of named processes."""

    def __init__(self, *, interval_s: float = 0.1) -> None:
        self._pids: dict[str, int] = {}
        self._interval = interval_s
        self._peak: dict[str, int] = {}
        self._cpu0: dict[str, float] = {}
        self._t0 = 0.0
        # event-loop time the last window began at, for samplers that align on it (bench.soak)
        self.window_start: float | None = None
        self._machine0 = (0.0, 0.0)
        self._task: asyncio.Task[None] | None = None

    def track(self, name: str, pid: int) -> None:
        self._pids[name] = pid
        self._peak[name] = rss_bytes(pid) or 0

    def forget(self, name: str) -> None:
        self._pids.pop(name, None)
        self._peak.pop(name, None)

    def pids(self) -> dict[str, int]:
        return dict(self._pids)

    async def __aenter__(self) -> Meter:
        self._task = asyncio.get_running_loop().create_task(self._sample_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _sample(self) -> None:
        for name, pid in self._pids.items():
            rss = rss_bytes(pid)
            if rss is not None and rss > self._peak.get(name, 0):
                self._peak[name] = rss

    async def _sample_forever(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self._interval)

    def begin(self) -> None:
        loop = asyncio.get_running_loop()
        self._t0 = self.window_start = loop.time()
        self._machine0 = machine_cpu()
        self._cpu0 = {n: cpu_seconds(p) or 0.0 for n, p in self._pids.items()}
        self._peak = {n: rss_bytes(p) or 0 for n, p in self._pids.items()}

    def end(self) -> Window:
        self._sample()
        seconds = asyncio.get_running_loop().time() - self._t0
        busy1, total1 = machine_cpu()
        busy0, total0 = self._machine0
        ncpu = os.cpu_count() or 1
        busy_pct = 100.0 * ncpu * (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
        window = Window(seconds=seconds, machine_busy_pct=busy_pct)
        for name, pid in self._pids.items():
            cpu1 = cpu_seconds(pid)
            cpu0 = self._cpu0.get(name)
            if cpu1 is None or cpu0 is None:
                continue
            window.processes[name] = ProcessUsage(pid, cpu1 - cpu0, self._peak.get(name, 0))
        return window


@dataclass
class Sample:
    at: float  # event-loop time
    rss_mb: dict[str, float]
    cpu_s: dict[str, float]
    machine: tuple[float, float]  # busy, total CPU seconds since boot


@dataclass
class Sampler:
    """RSS and CPU of a meter's processes every `every_s` (the soak's memory over time),
    re-aligned once on the start of the meter's next window: samples fall at its 0, every_s,
    2 every_s, ..."""

    meter: Meter
    every_s: float
    samples: list[Sample] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)

    def take(self) -> None:
        rss, cpu = {}, {}
        for name, pid in self.meter.pids().items():
            r, c = rss_bytes(pid), cpu_seconds(pid)
            if r is not None and c is not None:
                rss[name], cpu[name] = round(r / 2**20, 2), c
                self.pids[name] = pid
        at = asyncio.get_running_loop().time()
        self.samples.append(Sample(at, rss, cpu, machine_cpu()))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        since = next_at = loop.time()
        anchored = False
        while True:
            start = self.meter.window_start
            if not anchored and start is not None and start >= since:
                anchored, next_at = True, start
            if loop.time() >= next_at:
                self.take()
                next_at += self.every_s
            await asyncio.sleep(max(0.0, min(0.5, next_at - loop.time())))


def cpu_between(a: Sample, b: Sample) -> tuple[float, float]:
    """Machine CPU % from sample a to b (200% = both of 2 cores), and the part of it not used
    by the soak's processes: other work on the machine skews that stretch's latency."""
    cores = os.cpu_count() or 1
    total = b.machine[1] - a.machine[1]
    machine = 100.0 * cores * (b.machine[0] - a.machine[0]) / total if total > 0 else 0.0
    ours = sum(b.cpu_s[n] - a.cpu_s[n] for n in b.cpu_s.keys() & a.cpu_s.keys())
    return round(machine, 1), round(max(0.0, machine - 100.0 * ours / (b.at - a.at)), 1)


async def wait_until_quiet(*, threshold_pct: float, timeout: float, sample_s: float = 1.0) -> float:
    """Wait (up to `timeout`) for a `sample_s` window in which the whole machine is under
    `threshold_pct` CPU busy (200% = 2 cores); returns the last window's figure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        busy0, total0 = machine_cpu()
        await asyncio.sleep(sample_s)
        busy1, total1 = machine_cpu()
        ncpu = os.cpu_count() or 1
        pct = 100.0 * ncpu * (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
        if pct < threshold_pct or loop.time() >= deadline:
            return pct
