"""Options and main of `python -m bench.replyqueues`.

Rounds run in a private vhost, created and deleted here, on a private node of their own (the
default: nothing else runs on it, so its CPU and memory are the rounds' alone, and it may open
enough files) or on the machine's broker (`--broker local`, shared: a round it has no open
files for is skipped). The restart phase always runs on a private node: restarting the
machine's broker would pull it from under everyone else. The cluster phase forms private
3-node clusters (tools.private_nodes.cluster), one per partition handling mode: the
operator's pause_minority, and ignore, to tell the queue type's part from the mode's.

Output: a table on stdout, JSON in var/bench/replyqueues-<UTC>.json (or --out). Progress on
stderr. Exit status 0, 1 when a call failed to start or a round was skipped, 2 when the
bench could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

from bench.broker import BrokerError, check_local, reachable
from bench.cli import machine_info, report_progress
from bench.replyqueues.cluster import PARTITION_MODES
from bench.replyqueues.designs import designs
from bench.replyqueues.report import render
from bench.replyqueues.run import measure

log = logging.getLogger("bench.replyqueues")


def _ints(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"positive integers expected, not {text!r}")
    return values


def _design_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = set(names) - set(designs())
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"designs are {', '.join(designs())}")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.replyqueues",
        description="Measure the edge's reply-queue designs on the real broker (issue 13).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--calls", type=_ints, default=[50, 500], help="call starts per round")
    p.add_argument("--wave", type=int, default=50, help="calls started at once (one pod)")
    p.add_argument("--designs", type=_design_names, default=list(designs()), help="comma-separated")
    p.add_argument("--hold", type=float, default=10.0, help="seconds the calls stay live")
    p.add_argument("--idle", type=float, default=2.0, help="seconds of idle broker CPU read")
    p.add_argument("--expires-ms", type=int, default=60_000, help="x-expires of (a) and (b)")
    p.add_argument(
        "--broker",
        choices=("local", "private"),
        default="private",
        help="rounds on a private node of their own or on the machine's broker (where rounds "
        "it has no open files for are skipped)",
    )
    p.add_argument(
        "--nofile",
        type=int,
        default=65_536,
        help="open files limit of private nodes, up to the hard limit (0: what su gives, "
        "1,024 here)",
    )
    p.add_argument(
        "--no-restart", dest="restart", action="store_false", help="skip the restart phase"
    )
    p.add_argument("--restart-replies", type=int, default=5, help="replies queued per design")
    p.add_argument(
        "--no-cluster", dest="cluster", action="store_false", help="skip the cluster phase"
    )
    p.add_argument(
        "--cluster-modes",
        type=lambda text: [m for m in text.split(",") if m],
        default=list(PARTITION_MODES),
        help="cluster_partition_handling of each cluster formed (comma-separated)",
    )
    p.add_argument("--quiet-wait", type=float, default=20.0, help="wait for an idle machine")
    p.add_argument("--out", default=None, help="JSON (default var/bench/replyqueues-<ts>.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report_progress()
    # The restart phase drops every connection on purpose: aio-pika's reconnect chatter is
    # noise here, and a round's errors are in its result.
    for name in ("aio_pika", "aiormq"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    base_url = os.environ.get("AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/"
    try:
        host, port = check_local(base_url)
    except BrokerError as error:
        log.error("%s", error)
        return 2
    if args.broker == "local" and not reachable(host, port):
        log.error("no broker at %s:%s: start one with `make broker`", host, port)
        return 2
    started = dt.datetime.now(dt.UTC)
    try:
        measured = measure(args, base_url, port)
    except (BrokerError, RuntimeError, OSError) as error:
        log.error("failed: %s", error)
        return 2
    doc = {
        "benchmark": "dtmf-bus reply queues",
        "format": 1,
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "machine": machine_info(),
        "config": {k: v for k, v in vars(args).items()},
        **measured,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else Path("var/bench") / f"replyqueues-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    sys.stdout.write(render(doc))
    sys.stdout.write(f"\nresult: {out}\n")
    return 1 if any(r["failed"] or r.get("skipped") for r in measured["rounds"]) else 0
