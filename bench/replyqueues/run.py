"""The bench's phases in order: the rounds, on a private node or the machine's broker, then
the restart and cluster phases."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from bench.procstat import wait_until_quiet
from bench.replyqueues.cluster import run_cluster
from bench.replyqueues.designs import Design, designs
from bench.replyqueues.measure import RoundSpec, measure_round
from bench.replyqueues.nodes import BrokerView, Node, declare_exchange, private_node, private_vhost
from bench.replyqueues.restart import run_restart

log = logging.getLogger("bench.replyqueues")

QUIET_PCT = 25.0  # of all cores: the machine counts as idle below this


async def run_rounds(
    url: str, view: BrokerView, chosen: Sequence[Design], args: argparse.Namespace
) -> list[dict[str, Any]]:
    await declare_exchange(url)
    rounds = []
    for calls in args.calls:
        for design in chosen:
            status = await asyncio.to_thread(view.status)
            if not _room_for(status, design, calls):
                rounds.append(_skipped(design, calls, status))
                continue
            busy = await _quiet(args.quiet_wait)
            log.info("round: %s, %d calls in waves of %d", design.name, calls, args.wave)
            spec = RoundSpec(
                design, calls, min(args.wave, calls), hold_s=args.hold, idle_s=args.idle
            )
            result = await measure_round(url, view, spec)
            result["machine_busy_pct_before"] = round(busy, 1)
            rounds.append(result)
    return rounds


def _room_for(status: dict[str, int], design: Design, calls: int) -> bool:
    """Whether the node has the file handles for the round. A node out of them stops accepting
    connections, stalling everyone on it (the machine's broker is shared)."""
    free = status["handles_limit"] - status["handles_used"]
    need = design.handles_per_call * calls + 100  # 100: other clients meanwhile
    if need <= free:
        return True
    log.warning(
        "skipping %s at %d calls: needs ~%d file handles, the node has %d free of %d "
        "(use --broker private)",
        design.name,
        calls,
        need,
        free,
        status["handles_limit"],
    )
    return False


def _skipped(design: Design, calls: int, status: dict[str, int]) -> dict[str, Any]:
    return {
        "design": design.name,
        "label": design.label,
        "calls": calls,
        "skipped": f"the node's file handle limit ({status['handles_limit']}) is too low",
        "failed": 0,
    }


async def _quiet(timeout: float) -> float:
    if timeout <= 0:
        return 0.0
    busy = await wait_until_quiet(threshold_pct=QUIET_PCT, timeout=timeout)
    if busy >= QUIET_PCT:
        log.warning("machine still %.0f%% busy with other work: figures skew", busy)
    return busy


def measure(args: argparse.Namespace, base_url: str, port: int) -> dict[str, Any]:
    chosen = [designs(args.expires_ms)[name] for name in args.designs]
    # A fault outlasts a short --expires-ms (meant to shorten the rounds): today's expiry here.
    faulted = [designs()[name] for name in args.designs]
    with contextlib.ExitStack() as stack:
        if args.broker == "private":
            node, broker = stack.enter_context(private_node(args.nofile))
        else:
            node, broker = Node(base_url, port), None
        with private_vhost(node) as (url, vhost):
            rounds = asyncio.run(run_rounds(url, node.view(vhost), chosen, args))
        restart: Any = None
        if args.restart:
            if broker is None:
                node, broker = stack.enter_context(private_node(args.nofile))
            restart = asyncio.run(run_restart(node, broker, faulted, args.restart_replies))
    cluster = None
    if args.cluster:
        cluster = run_cluster(faulted, args.restart_replies, args.cluster_modes)
    return {"rounds": rounds, "restart": restart, "cluster": cluster}
