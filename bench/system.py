"""The system under test: its consumer services, each its own process as `dtmf-bus demo`
starts them, up once the broker shows a consumer on each of their queues."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.errors import BenchError
from bench.processes import Proc, Processes, tail

# The consumer services `dtmf-bus demo` starts (read from tools.demo), else these.
DEFAULT_SERVICES = ("sales", "support", "menu", "calllog")


def system_services() -> tuple[str, ...]:
    try:
        from tools.demo import SERVICES as demo_services
    except ImportError:
        return DEFAULT_SERVICES
    return tuple(demo_services)


SERVICES = system_services()


def service_list(args: argparse.Namespace) -> list[str]:
    return [name.strip() for name in args.services.split(",") if name.strip()]


class Services:
    """The services named by --services, started and stopped through `processes`."""

    def __init__(self, names: list[str], *, url: str, processes: Processes) -> None:
        self.names = names
        self.url = url
        self.processes = processes
        self.procs: dict[str, Proc] = {}

    async def start(self) -> None:
        from contracts.topology import service_queue
        from tools.demo import wait_for_consumers

        for name in self.names:
            p = await self.processes.spawn(name, f"services.{name}")
            self.procs[name] = p
            self.processes.meter.track(name, p.proc.pid)
        waiting = asyncio.ensure_future(
            wait_for_consumers(self.url, [service_queue(n) for n in self.names], timeout=60)
        )
        exits: dict[asyncio.Future[int], str] = {
            asyncio.ensure_future(p.proc.wait()): name for name, p in self.procs.items()
        }
        every: list[asyncio.Future[Any]] = [waiting, *exits]
        done, _ = await asyncio.wait(every, return_when=asyncio.FIRST_COMPLETED)
        for fut in exits:
            if not fut.done():
                fut.cancel()
        if waiting not in done:
            waiting.cancel()
            name = next(exits[f] for f in done if f in exits)
            log_path = self.procs[name].log_path
            raise BenchError(f"service {name} exited at start:\n{tail(log_path)}")
        waiting.result()

    async def wait_drained(self, *, timeout: float) -> int:
        """Wait for the services' queues to be empty (a previous phase may have left a
        backlog); returns the messages still queued when the bound ran out."""
        import aio_pika

        from contracts.topology import service_queue

        deadline = time.monotonic() + timeout
        async with await aio_pika.connect(self.url) as connection:
            channel = await connection.channel()
            while True:
                queued = 0
                for name in self.names:
                    queue = await channel.declare_queue(service_queue(name), passive=True)
                    queued += queue.declaration_result.message_count or 0
                if queued == 0 or time.monotonic() >= deadline:
                    return queued
                await asyncio.sleep(0.5)

    async def stop(self) -> dict[str, int]:
        """Exit codes of the services (see Processes.stop)."""
        return await self.processes.stop(list(self.procs.values()))
