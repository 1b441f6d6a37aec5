"""One benchmark run in a private vhost: the services up, then each planned phase in turn
on a drained broker and (bounded wait) an idle machine, its result kept or its failure noted.
An entry of the plan whose load comes from an earlier result (bench.plan.Derived) becomes
its phases when its turn comes. The soak run (bench.soak) starts the services and prepares
its phases the same way."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.phases import run_phase
from bench.plan import Phase, Step, plan
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
    steps = plan(args)
    async with system_up(args, url=url, run_dir=run_dir, port=port) as (processes, services):
        run = Run(args, url=url, port=port, processes=processes, services=services)
        for step in steps:
            for phase in run.expand(step):
                await run.measure(phase)
        codes = await services.stop()
    # In plan order, but `open` first when it was kept from a scaling phase (run last).
    results = dict(sorted(run.results.items(), key=lambda item: item[0] != "open"))
    return {
        "phases": results,
        "scaling": run.scaling,
        "failures": run.failures,
        "service_exit_codes": codes,
        "register": run.register,
    }


class Run:
    """The results of one run so far, and how each planned step adds to them."""

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        url: str,
        port: int,
        processes: Processes,
        services: Services,
    ) -> None:
        self.args, self.url, self.port = args, url, port
        self.processes, self.services = processes, services
        self.results: dict[str, dict[str, Any]] = {}
        self.scaling: list[dict[str, Any]] = []
        self.failures: dict[str, str] = {}
        self.register: dict[str, Any] | None = None

    def expand(self, step: Step) -> list[Phase]:
        """The plan's second step: a derived entry's phases from the result it depends on
        (none, and the entry noted as failed, without that result)."""
        if isinstance(step, Phase):
            return [step]
        source = self.results.get(step.source)
        try:
            if source is None:
                raise BenchError(f"it needs phase {step.source}, which has no result")
            phases = step.build(source)
        except BenchError as error:
            log.warning("phase %s not run: %s", step.name, error)
            self.failures[step.name] = str(error)
            return []
        for phase in phases:
            log.info(
                "phase %s: load from %s's %s replies/s: %s calls x 1 press / %.3g s",
                phase.name,
                step.source,
                source["replies_per_s"],
                phase.calls,
                phase.interval_s(self.args),
            )
        return phases

    async def measure(self, phase: Phase) -> None:
        """Run one phase and keep its result, or note its failure: one phase failing (e.g.
        a size the machine cannot carry) keeps the rest."""
        args = self.args
        await before_phase(phase, args=args, services=self.services)
        try:
            if phase.kind == "register":
                self.register = await run_register(
                    calls=phase.calls, processes=self.processes, url=self.url, port=self.port
                )
                return
            result = await run_phase(phase, args=args, url=self.url, processes=self.processes)
        except BenchError as error:
            log.warning("phase %s failed: %s", phase.name, error)
            self.failures[phase.name] = str(error)
            return
        log.info(
            "phase %s: %s replies/s, p99 %s ms, lost %s",
            phase.name,
            result["replies_per_s"],
            result["latency_ms"]["p99"],
            result["lost"],
        )
        if phase.name.startswith("open-"):
            self.scaling.append(result)
            if phase.calls == args.calls and "open" in args.phases.split(","):
                self.results.setdefault("open", result)
        else:
            self.results[phase.name] = result
