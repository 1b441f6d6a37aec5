"""An edge load generator: `python -m bench.loadgen open|closed ...` (started by `python -m bench`).

It drives the edge's real code path: `running_edge(settings)` (publisher confirms, its own
reply queue, the reply runner), `Edge.start_call(session, source="simulator")`, `Edge.press`
and its handle's `reply`. Only the call session is a stand-in: it records nothing but the
moment an action was applied, which is where a press's latency ends.

- open:   N calls, each pressing one key every `interval` seconds whatever the replies do,
          phases staggered evenly over the interval (press times do not wait for replies).
- closed: C calls, each pressing its next key as soon as the previous reply is applied.

Settings come from the environment like any edge process (AMQP_URL, DTMF_REPLY_TIMEOUT_S, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import time
import tracemalloc
from typing import Any

from bench.procstat import rss_bytes
from bench.worker import (
    Go,
    Recorder,
    announce,
    key_mix,
    paced,
    sleep_until,
    wait_for_go,
    write_result,
)
from services.edge.bus import running_edge
from services.edge.calls import Call, CallSession
from services.edge.edge import Edge, EdgeBusy
from services.edge.settings import EdgeSettings
from services.runtime.lifecycle import setup_logging

log = logging.getLogger("bench.loadgen")

# Calls are started and ended this many at a time (each start/end is a confirmed publish).
BATCH = 200
# Retained heap per call is measured with tracemalloc over this many calls (then stopped).
TRACED_CALLS = 200


class SilentSession(CallSession):
    """A CallSession that does nothing but note when the last action was applied.

    It subclasses the protocol so that a session method added to it later (with a default
    body) does not break the benchmark."""

    __slots__ = ("actions", "applied_at")

    def __init__(self) -> None:
        self.applied_at = 0.0
        self.actions = 0

    async def say(self, text: str) -> None:
        self.applied_at = time.monotonic()
        self.actions += 1

    async def set_instructions(self, instructions: str) -> None:
        self.applied_at = time.monotonic()
        self.actions += 1

    async def transfer(self, to: str) -> None:
        self.applied_at = time.monotonic()
        self.actions += 1

    async def hangup(self, reason: str) -> None:
        self.applied_at = time.monotonic()
        self.actions += 1

    async def interrupt(self) -> None:
        """Barge-in on a press: nothing is speaking here, and it is not a reply."""


async def _in_batches(coros: list[Any]) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(coros), BATCH):
        out.extend(await asyncio.gather(*coros[i : i + BATCH]))
    return out


async def start_calls(
    edge: Edge, count: int
) -> tuple[list[tuple[Call, SilentSession]], dict[str, Any]]:
    """Start `count` calls and measure what a live call costs the edge in memory."""

    async def one() -> tuple[Call, SilentSession]:
        session = SilentSession()
        return await edge.start_call(session, source="simulator"), session

    gc.collect()
    rss0 = rss_bytes_self()
    traced = min(TRACED_CALLS, count)
    tracemalloc.start()
    calls = await _in_batches([one() for _ in range(traced)])
    await asyncio.sleep(0.05)  # let confirms and their bookkeeping settle
    gc.collect()
    traced_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    calls += await _in_batches([one() for _ in range(count - traced)])
    await asyncio.sleep(0.05)
    gc.collect()
    rss1 = rss_bytes_self()
    memory = {
        "live_calls": count,
        "rss_before_calls_mb": round(rss0 / 2**20, 2),
        "rss_with_calls_mb": round(rss1 / 2**20, 2),
        "rss_delta_bytes_per_call": round((rss1 - rss0) / count) if count else None,
        "traced_bytes_per_call": round(traced_bytes / traced) if traced else None,
        "traced_calls": traced,
    }
    return calls, memory


def rss_bytes_self() -> int:
    return rss_bytes(os.getpid()) or 0


async def end_calls(edge: Edge, calls: list[tuple[Call, SilentSession]]) -> None:
    async def end(call: Call) -> None:
        try:
            await edge.end_call(call, reason="caller_hangup")
        except Exception as error:
            log.warning("call %s did not end cleanly: %r", call.call_id, error)

    await _in_batches([end(call) for call, _ in calls])


async def _press(
    edge: Edge,
    call: Call,
    session: SilentSession,
    key: str,
    rec: Recorder,
    timeout: float,
    due: float | None = None,
) -> None:
    t0 = time.monotonic()
    try:
        handle = await edge.press(call, key)
    except EdgeBusy:
        rec.shed_press(t0)
        return
    except Exception:
        log.exception("press failed")
        rec.unanswered(t0, error=True)
        return
    reply = await handle.reply(timeout=timeout)
    if reply is None:
        rec.unanswered(t0)
        return
    # The session noted when the reply's last action was applied; the future that woke us
    # was resolved right after that, so this is the press-to-applied time.
    t1 = session.applied_at if session.applied_at >= t0 else time.monotonic()
    rec.answered(t0, t1, None if due is None else t0 - due)


async def open_loop(
    edge: Edge,
    calls: list[tuple[Call, SilentSession]],
    go: Go,
    *,
    interval: float,
    keys: list[str],
    offset: int,
    total: int,
    timeout: float,
) -> Recorder:
    """Each call presses every `interval`, staggered over all edges (see bench.worker.paced)."""
    rec = Recorder(go)

    async def press(index: int, n: int, due: float) -> None:
        call, session = calls[index - offset]
        await _press(edge, call, session, keys[(index + n) % len(keys)], rec, timeout, due)

    await paced(go, press, count=len(calls), offset=offset, total=total, interval=interval)
    return rec


async def closed_loop(
    edge: Edge,
    calls: list[tuple[Call, SilentSession]],
    go: Go,
    *,
    keys: list[str],
    offset: int,
    timeout: float,
) -> Recorder:
    """Each call presses its next key as soon as the previous reply was applied."""
    rec = Recorder(go)

    async def caller(index: int, call: Call, session: SilentSession) -> None:
        n = index
        while time.monotonic() < go.window_end:
            await _press(edge, call, session, keys[n % len(keys)], rec, timeout)
            n += 1

    await sleep_until(go.start)
    await asyncio.gather(
        *(caller(offset + i, call, session) for i, (call, session) in enumerate(calls))
    )
    return rec


async def run(args: argparse.Namespace) -> None:
    settings = EdgeSettings.from_env()
    keys = key_mix(args.keys)
    result: dict[str, Any] = {"edge_id": settings.edge_id}
    try:
        async with running_edge(settings) as edge:
            calls, memory = await start_calls(edge, args.calls)
            announce("ready", calls=len(calls), edge_id=settings.edge_id)
            go = await wait_for_go()
            if args.mode == "open":
                rec = await open_loop(
                    edge,
                    calls,
                    go,
                    interval=args.interval,
                    keys=keys,
                    offset=args.offset,
                    total=args.total,
                    timeout=settings.reply_timeout_s,
                )
            else:
                rec = await closed_loop(
                    edge, calls, go, keys=keys, offset=args.offset, timeout=settings.reply_timeout_s
                )
            gc.collect()
            memory["rss_after_load_mb"] = round(rss_bytes_self() / 2**20, 2)
            announce("measured")
            # The figures are in: write them before a teardown that an overload may fail.
            result.update({"memory": memory, **rec.as_dict()})
            write_result(args.result, result)
            await end_calls(edge, calls)
    except Exception as error:
        if "presses" not in result:
            raise
        # E.g. the publish buffer still full from an overload: the calls could not all end.
        log.exception("edge teardown failed")
        result["teardown_error"] = repr(error)
        write_result(args.result, result)
    announce("done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("mode", choices=("open", "closed"))
    parser.add_argument("--calls", type=int, required=True, help="calls on this edge")
    parser.add_argument("--offset", type=int, default=0, help="index of this edge's first call")
    parser.add_argument("--total", type=int, default=0, help="calls over all edges (open loop)")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--keys", default="1,2,1,2,9,0,*,#")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--result", required=True, help="where to write the result JSON")
    args = parser.parse_args(argv)
    if args.total <= 0:
        args.total = args.calls
    settings = EdgeSettings.from_env()
    setup_logging(settings.log_level)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(run(args))
    else:
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
