"""Composition root of the media edge: settings -> broker -> Edge -> a call source."""

from __future__ import annotations

import argparse
import asyncio
import logging

from contracts.keys import InvalidKey
from services.edge.bus import running_edge
from services.edge.settings import EdgeSettings
from services.edge.simulator import keypad, parse_keys, scripted_call
from services.runtime import lifecycle
from services.runtime.lifecycle import setup_logging, stop_on_signals

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        choices=("simulator", "videosdk"),
        default="simulator",
        help="where calls come from (default: simulator)",
    )
    parser.add_argument(
        "--keys",
        help="simulator: press these keys in one scripted call, e.g. 1,2,9,0,*,# "
        "(without it: an interactive keypad)",
    )
    parser.add_argument(
        "--calls", type=int, default=1, help="simulator: run this many scripted calls at once"
    )
    parser.add_argument(
        "--register",
        action="store_true",
        help="videosdk: register as a worker and serve every call VideoSDK dispatches "
        "(each in its own process); without it, join VIDEOSDK_ROOM_ID and serve that call",
    )


async def run_simulator(settings: EdgeSettings, *, keys: str | None, calls: int) -> int:
    try:
        script = parse_keys(keys) if keys is not None else None
    except InvalidKey as error:
        log.error("%s", error)
        return 2
    async with running_edge(settings) as edge:
        if script is None:
            await keypad(edge, reply_timeout=settings.reply_timeout_s)
            return 0
        results = await asyncio.gather(
            *(
                scripted_call(
                    edge, script, reply_timeout=settings.reply_timeout_s, label=f"call {n + 1}"
                )
                for n in range(calls)
            )
        )
    return 0 if all(not r.unanswered for r in results) else 1


async def run_videosdk(settings: EdgeSettings) -> int:
    from services.edge.videosdk.worker import serve  # heavy import: only when asked for

    stop = stop_on_signals()
    async with running_edge(settings) as edge:
        return await serve(edge, stop=stop)


async def run_videosdk_pod(settings: EdgeSettings) -> int:
    """The edge pod: the SDK's worker, each call in a job process of its own, and one
    /metrics, /healthz and /readyz for all of them, on the worker's own loop."""
    from services.edge.videosdk.pod import serve_pod  # heavy import: only when asked for

    return await serve_pod(settings, stop=stop_on_signals())


def run(args: argparse.Namespace) -> int:
    settings = EdgeSettings.from_env()
    setup_logging(settings.log_level)
    if args.source == "videosdk" and args.register:
        return lifecycle.run(run_videosdk_pod(settings))
    if args.source == "videosdk":
        return asyncio.run(run_videosdk(settings))
    return lifecycle.run(run_simulator(settings, keys=args.keys, calls=args.calls))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.edge")
    add_arguments(parser)
    return run(parser.parse_args())
