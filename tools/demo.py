"""`dtmf-bus demo`: every service as its own process, one simulated call through them all.

This is how a user runs the system, only on one machine: each consumer service is
started with `python -m services.<name>`, the edge runs a scripted simulator call,
then everything gets SIGTERM and must exit cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

import aio_pika
from aio_pika.exceptions import ChannelClosed

from contracts.topology import service_queue
from services.calllog.settings import CallLogSettings
from services.runtime.settings import Settings, broker_urls

log = logging.getLogger(__name__)

SERVICES = ("sales", "support", "billing", "menu", "calllog")
# Sales, support, unserved keys, then billing's account number flow.
DEMO_KEYS = "1,2,9,0,*,#,3,1,2,3,4,#"


async def wait_for_consumers(url: str, queues: list[str], *, timeout: float) -> None:
    """Block until every queue has a consumer (the services' readiness, seen from the broker)."""
    deadline = time.monotonic() + timeout
    pending = list(queues)
    async with await aio_pika.connect(broker_urls(url)[0]) as connection:
        while pending:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(pending[0], passive=True)
                ready = bool(queue.declaration_result.consumer_count)
            except ChannelClosed:
                ready = False  # not declared yet: the service is still starting
            if not channel.is_closed:
                await channel.close()
            if ready:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"no consumer on {pending} after {timeout:.0f}s")
            await asyncio.sleep(0.1)


def _child_env() -> dict[str, str]:
    env = os.environ.copy()
    # Several processes on one host: each takes a free port for /metrics (logged), unless off.
    if env.get("DTMF_HTTP_PORT") != "-1":
        env["DTMF_HTTP_PORT"] = "0"
    return env


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", *args, env=_child_env())


async def _until_ready(settings: Settings, procs: dict[str, asyncio.subprocess.Process]) -> None:
    """Wait for every service's consumer; fail at once if a service process dies first."""
    ready = asyncio.ensure_future(
        wait_for_consumers(settings.amqp_url, [service_queue(n) for n in procs], timeout=60)
    )
    died = {asyncio.ensure_future(proc.wait()): name for name, proc in procs.items()}
    done, _ = await asyncio.wait({ready, *died}, return_when=asyncio.FIRST_COMPLETED)
    for task in died:
        task.cancel()
    if ready not in done:
        ready.cancel()
        name = next(died[task] for task in died if task in done)
        raise RuntimeError(f"{name} exited with {procs[name].returncode} before it was ready")
    ready.result()


async def _terminate(procs: dict[str, asyncio.subprocess.Process], *, timeout: float) -> bool:
    clean = True
    for proc in procs.values():
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for name, proc in procs.items():
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            code = await proc.wait()
            log.error("%s did not stop within %.0fs after SIGTERM", name, timeout)
        if code != 0:
            clean = False
            log.error("%s exited with %s", name, code)
    return clean


async def run_demo(settings: CallLogSettings, *, keys: str | None = DEMO_KEYS) -> int:
    """Start the services, then one scripted call (or, with keys=None, a keypad in this
    terminal); stop everything with SIGTERM and report."""
    procs = {name: await _spawn(f"services.{name}") for name in SERVICES}
    try:
        await _until_ready(settings, procs)
        print(f"demo: services up ({', '.join(SERVICES)})", flush=True)
        script = ["--keys", keys] if keys is not None else []
        edge = await _spawn("services.edge", "--source", "simulator", *script)
        call_code = await edge.wait()
    finally:
        clean = await _terminate(procs, timeout=settings.shutdown_timeout_s + 5)
    print(
        f"demo: call {'ok' if call_code == 0 else 'FAILED'}; services stopped "
        f"{'cleanly' if clean else 'with errors'}; call log: {settings.calllog_path}",
        flush=True,
    )
    return 0 if call_code == 0 and clean else 1
