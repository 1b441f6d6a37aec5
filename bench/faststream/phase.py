"""The `faststream` phase's processes: the peer's services and edge workers (see
bench.faststream), in a vhost of their own.

bench.phases runs the phase as it runs the floor's (`baseline-matched`): the services up and
measured first, then C concurrent calls over `--edges` load workers on the shared clock,
every process's CPU read at the window's edges (bench.procstat). Only the processes and the
vhost differ, and they are made here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.util
import logging
from collections.abc import AsyncIterator

from bench.broker import PrivateVhost
from bench.errors import BenchError
from bench.plan import Phase
from bench.processes import Proc, Processes

log = logging.getLogger(__name__)

PEER = "faststream"  # the phase's name and its baseline kind
# The system's services the peer has a counterpart of (bench.faststream.services); the
# others (billing: a gather, on a key the default mix leaves out) are left out.
SERVICES = ("sales", "support", "menu", "calllog")
INSTALL = "pip install 'faststream[rabbit,cli]' (a dev dependency of the bench)"


def require_faststream() -> None:
    # The services run under FastStream's own CLI, which needs the `cli` extra (typer).
    if any(importlib.util.find_spec(name) is None for name in ("faststream", "typer")):
        raise BenchError(f"the faststream phase needs FastStream and its CLI: {INSTALL}")


@contextlib.asynccontextmanager
async def peer_vhost(url: str) -> AsyncIterator[str]:
    """A vhost of the peer's own next to the run's (deleted after): the peer declares the
    system's very names, which the system's services must never see."""
    vhost = PrivateVhost(url, prefix="dtmf-bench-faststream")
    peer_url = await asyncio.to_thread(vhost.__enter__)
    try:
        yield peer_url
    finally:
        await asyncio.to_thread(vhost.delete)


def peer_services(system: list[str]) -> list[str]:
    """The peer's services for the system's: those it has a counterpart of."""
    left_out = [name for name in system if name not in SERVICES]
    if left_out:
        log.info("faststream: no counterpart of %s, left out", ", ".join(left_out))
    return [name for name in SERVICES if name in system]


async def start_services(
    phase: Phase, *, names: list[str], url: str, processes: Processes
) -> list[Proc]:
    """Each service as FastStream runs it (`faststream run module:factory --factory`),
    ready (its subscribers consuming) and measured."""
    env = {
        "AMQP_URL": url,
        "FASTSTREAM_CALLLOG_PATH": str(processes.run_dir / "faststream-calllog.jsonl"),
    }
    return await processes.start_ready(
        functools.partial(
            processes.spawn,
            f"{phase.name}-{name}",
            "faststream",
            "run",
            f"bench.faststream.services:{name}",
            "--factory",
            worker=True,
            env=env,
        )
        for name in names
    )


def edge_argv(args: argparse.Namespace, *, url: str, offset: int, count: int) -> list[str]:
    """`python -m` arguments of one of the peer's edge workers, but for --loop and --result."""
    return [
        "bench.faststream.edge",
        "--url",
        url,
        "--concurrency",
        str(count),
        "--offset",
        str(offset),
        "--keys",
        args.keys,
        "--reply-timeout",
        str(args.reply_timeout),
    ]
