"""One benchmark run in a private vhost: the services up, then each planned phase in turn
on a drained broker and (bounded wait) an idle machine, its result kept or its failure noted.
The soak run (bench.soak) starts the services and prepares its phases the same way."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.phases import run_phase
from bench.plan import PHASE_KINDS, Phase, plan
from bench.processes import Processes, process_env
from bench.procstat import Meter, find_broker_pid, wait_until_quiet
from bench.register.phase import run_register
from bench.system import Services, service_list
from tools.broker_client import redact

log = logging.getLogger(__name__)

# Machine CPU % (100% = one core) above which, before a phase, other work skews the figures.
QUIET_PCT = 25


@contextlib.asynccontextmanager
async def system_up(
    args: argparse.Namespace, *, url: str, run_dir: Path, port: int
) -> AsyncIterator[tuple[Processes, Services]]:
    """The services up and measured (and the broker's beam.smp); no process left after."""
    async with Meter() as meter:
        env = process_env(url, run_dir, reply_timeout=args.reply_timeout, prefetch=args.prefetch)
        processes = Processes(env=env, run_dir=run_dir, meter=meter)
        services = Services(service_list(args), url=url, processes=processes)
        broker_pid = find_broker_pid(port)
        if broker_pid is not None:
            meter.track("rabbitmq", broker_pid)
        else:
            log.warning("no local beam.smp found: broker CPU and memory will be missing")
        try:
            log.info(
                "starting services (%s) in vhost of %s", ", ".join(services.names), redact(url)
            )
            await services.start()
            log.info("services up")
            yield processes, services
        finally:
            await processes.kill_all()


async def before_phase(phase: Phase, *, args: argparse.Namespace, services: Services) -> None:
    """A drained broker and (bounded wait) an idle machine, then the phase announced."""
    backlog = await services.wait_drained(timeout=120)
    if backlog:
        log.warning("%s messages still queued from the previous phase", backlog)
    if args.quiet_wait > 0:
        busy = await wait_until_quiet(threshold_pct=QUIET_PCT, timeout=args.quiet_wait)
        if busy >= QUIET_PCT:
            log.warning("machine still %.0f%% busy with other work: figures skew", busy)
    log.info(
        "phase %s: %s, %s %s, %g s (+%g s warm-up)",
        phase.name,
        phase.kind,
        phase.calls,
        phase.load,
        phase.duration,
        args.warmup,
    )


async def run_bench(
    args: argparse.Namespace, *, url: str, run_dir: Path, port: int
) -> dict[str, Any]:
    """Phase results by name, the scaling ones, failed phases and the services' exit codes."""
    phases = plan(args)
    async with system_up(args, url=url, run_dir=run_dir, port=port) as (processes, services):
        results: dict[str, dict[str, Any]] = {}
        scaling: list[dict[str, Any]] = []
        failures: dict[str, str] = {}
        register: dict[str, Any] | None = None
        for phase in phases:
            await before_phase(phase, args=args, services=services)
            try:
                if phase.kind == "register":
                    register = await run_register(
                        calls=phase.calls, processes=processes, url=url, port=port
                    )
                    continue
                result = await run_phase(phase, args=args, url=url, processes=processes)
            except BenchError as error:
                # One phase failing (e.g. a size the machine cannot carry) keeps the rest.
                log.warning("phase %s failed: %s", phase.name, error)
                failures[phase.name] = str(error)
                continue
            log.info(
                "phase %s: %s replies/s, p99 %s ms, lost %s",
                phase.name,
                result["replies_per_s"],
                result["latency_ms"]["p99"],
                result["lost"],
            )
            if phase.name.startswith("open-"):
                scaling.append(result)
                if phase.calls == args.calls and "open" in args.phases.split(","):
                    results.setdefault("open", result)
            else:
                results[phase.name] = result
        codes = await services.stop()
    order = {name: i for i, name in enumerate(PHASE_KINDS)}
    results = dict(sorted(results.items(), key=lambda item: order.get(item[0], len(order))))
    return {
        "phases": results,
        "scaling": scaling,
        "failures": failures,
        "service_exit_codes": codes,
        "register": register,
    }
