"""Which phases a run has, in which order, planned from the command-line options.

- open:     N calls pressing one key every `interval` s each;
- closed:   C calls pressing as soon as the previous reply is applied (saturation);
- baseline: the same closed loop on a lean aio-pika request/reply pair (bench.baseline),
            on a quorum queue, a classic one or both;
- matched:  the design with no application code: dtmf-bus's topology and durability and
            a process mirroring each service (bench.matched): what is left between it and
            the system is our code;
- faststream: the peer: the same design written the idiomatic FastStream way
            (bench.faststream), in the closed loop of `matched` (issue 18, target 4);
- matched-open: the matched baseline in the open loop of `open` (same calls, same pace):
            the latency floor of the design at that load;
- half-floor: the system and the floor in the open loop at half the floor's saturation,
            as measured by `matched` in the same run (issue 18, target 3): a load every
            machine can carry, so their p99s compare fairly. It is the plan's second step:
            a `Derived` entry that bench.run turns into its two phases once `matched` has
            been measured (`half_floor_phases`);
- register: the edge pod as Kubernetes runs it (the SDK's worker, a job process per call),
            `--register-calls` calls started at once (bench.register);
- scaling (--scaling): the open loop at several sizes, last.

With --rounds N, the compared phases (closed, matched, faststream, half-floor) run again in
rounds 2..N after the first, each round in the reverse order of the one before (bench.rounds).

`inband` (bench.inband, in-band DTMF detection's cost per call) needs no broker: bench.cli
runs it first, on a machine not yet busy with the others, and it plans no `Phase`.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bench.errors import BenchError
from bench.faststream.compare import FLOOR, PEER, SYSTEM
from bench.rounds import round_name

PHASE_KINDS = (
    "inband",
    "open",
    "closed",
    "baseline",
    "matched",
    "faststream",
    "matched-open",
    "half-floor",
    "register",
)
# The phases --profile may sample: the system's own (py-spy flame graphs of its processes).
PROFILED_KINDS = ("closed", "open")
SCALING_CALLS = (100, 1000, 5000)
DEFAULT_KEYS = "1,2,1,2,9,0,*,#"  # half served (sales, support), half the menu's fallback
# Issue 18, target 3: the share of the floor's (FLOOR's) saturation both open loops of
# `half-floor` run at, and the names of its phases (the system's, the floor's).
HALF_FLOOR_FRACTION = 0.5
HALF_FLOOR, HALF_FLOOR_MATCHED = "half-floor", "half-floor-matched"
# The steps --rounds repeats: what issue 18's targets compare (the system, its floor, the peer).
COMPARED = (SYSTEM, FLOOR, PEER, HALF_FLOOR)


@dataclass
class Phase:
    name: str
    kind: str  # open | closed | baseline (the matched ones are baselines too) | register
    calls: int
    duration: float
    baseline_kind: str | None = None
    open_loop: bool = False  # paced presses (`calls` callers) rather than `calls` concurrent
    # open loop: s between a call's presses; None: --interval (a derived load sets its own)
    interval: float | None = None
    # a load derived in the run: where from, kept in the result (see half_floor_phases)
    derived_load: dict[str, Any] | None = None

    @property
    def load(self) -> str:
        return "calls" if self.open_loop else "concurrent"

    def interval_s(self, args: argparse.Namespace) -> float:
        return float(args.interval if self.interval is None else self.interval)


@dataclass(frozen=True)
class Derived:
    """An entry of the plan whose phases depend on a result of the same run: once phase
    `source` has been measured, `build(its result)` gives them (bench.run does it; a
    BenchError from `build` fails the entry, not the run)."""

    name: str  # as --phases names it
    source: str
    build: Callable[[dict[str, Any]], list[Phase]]


Step = Phase | Derived


def paced_load(rate: float, interval: float) -> tuple[int, float]:
    """(calls, s between a call's presses) of an open loop making `rate` presses/s, each
    call pressing about every `interval` s. The interval is then adjusted so that
    calls / interval is the rate itself: rounding the calls alone would miss a low rate
    by up to half a call's share."""
    if rate <= 0 or interval <= 0:
        raise BenchError(f"no open loop at {rate:g} presses/s, one every {interval:g} s")
    calls = max(1, round(rate * interval))
    return calls, calls / rate


def half_floor_phases(
    floor: dict[str, Any], *, interval: float, duration: float, pinned: float | None = None
) -> list[Phase]:
    """The system's and the floor's open loops at the same load: half the floor's measured
    saturation (its replies/s), or half of `pinned` (--floor-saturation), as paced calls."""
    base = floor["replies_per_s"] if pinned is None else pinned
    if base <= 0:
        raise BenchError(f"no saturation to take half of: {FLOOR} at {base:g} replies/s")
    calls, pace = paced_load(HALF_FLOOR_FRACTION * base, interval)
    load = {
        "from": FLOOR,
        "saturation_replies_per_s": base,
        "pinned": pinned is not None,
        "fraction": HALF_FLOOR_FRACTION,
    }
    return [
        Phase(
            HALF_FLOOR, "open", calls, duration, open_loop=True, interval=pace, derived_load=load
        ),
        Phase(
            HALF_FLOOR_MATCHED,
            "baseline",
            calls,
            duration,
            "matched",
            open_loop=True,
            interval=pace,
            derived_load=load,
        ),
    ]


def plan(args: argparse.Namespace) -> list[Step]:
    wanted = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(wanted) - set(PHASE_KINDS)
    if unknown:
        raise BenchError(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if "half-floor" in wanted and "matched" not in wanted:
        raise BenchError("phase half-floor runs at half the floor's saturation: add matched")
    if args.floor_saturation is not None and args.floor_saturation <= 0:
        raise BenchError("--floor-saturation must be positive")
    if args.rounds < 1:
        raise BenchError("--rounds must be at least 1")
    phases: list[Step] = []
    scaling = [int(n) for n in args.scaling_calls.split(",") if n.strip()] if args.scaling else []
    scaling_duration = args.scaling_duration or args.open_duration
    if "open" in wanted and not (args.calls in scaling and scaling_duration == args.open_duration):
        phases.append(Phase("open", "open", args.calls, args.open_duration, open_loop=True))
    if "closed" in wanted:
        phases.append(Phase("closed", "closed", args.concurrency, args.closed_duration))
    if "baseline" in wanted:
        kinds = ("quorum", "classic") if args.baseline_kind == "both" else (args.baseline_kind,)
        for kind in kinds:
            name = "baseline" if kind == "quorum" or len(kinds) == 1 else f"baseline-{kind}"
            duration = args.baseline_duration or args.closed_duration
            phases.append(Phase(name, "baseline", args.concurrency, duration, kind))
    if "matched" in wanted:
        duration = args.baseline_duration or args.closed_duration
        phases.append(Phase(FLOOR, "baseline", args.concurrency, duration, "matched"))
    if "faststream" in wanted:
        # A baseline too (bench.aggregate leaves the system's idle services out of it).
        duration = args.baseline_duration or args.closed_duration
        phases.append(Phase("faststream", "baseline", args.concurrency, duration, "faststream"))
    if "matched-open" in wanted:
        phases.append(
            Phase(
                "baseline-matched-open",
                "baseline",
                args.calls,
                args.open_duration,
                "matched",
                open_loop=True,
            )
        )
    if "half-floor" in wanted:
        build = functools.partial(
            half_floor_phases,
            interval=args.interval,
            duration=args.open_duration,
            pinned=args.floor_saturation,
        )
        phases.append(Derived(HALF_FLOOR, FLOOR, build))
    compared = [step for step in phases if step.name in COMPARED]
    for number in range(2, args.rounds + 1):
        phases += repeated(compared, number)
    if "register" in wanted:
        phases.append(Phase("register", "register", args.register_calls, 0.0))
    # Last, smallest first: a size beyond what the machine carries leaves a backlog behind.
    for n in sorted(scaling):
        phases.append(Phase(f"open-{n}", "open", n, scaling_duration, open_loop=True))
    return phases


def repeated(compared: list[Step], number: int) -> list[Step]:
    """Round `number` of the compared steps: renamed for the round, and in an even round in
    the reverse order (a derived step stays after the phase it derives from)."""
    backwards = number % 2 == 0
    loops = [step for step in compared if isinstance(step, Phase)]
    out: list[Step] = [
        replace(phase, name=round_name(phase.name, number))
        for phase in (reversed(loops) if backwards else loops)
    ]
    for step in compared:
        if isinstance(step, Derived):
            build = functools.partial(_in_round, step.build, number=number, backwards=backwards)
            out.append(
                Derived(round_name(step.name, number), round_name(step.source, number), build)
            )
    return out


def _in_round(
    build: Callable[[dict[str, Any]], list[Phase]],
    source: dict[str, Any],
    *,
    number: int,
    backwards: bool,
) -> list[Phase]:
    phases = [replace(phase, name=round_name(phase.name, number)) for phase in build(source)]
    return phases[::-1] if backwards else phases


def profiled_phase(args: argparse.Namespace, phases: list[Step]) -> str | None:
    """The phase --profile samples, if any; refused when the run does not have it."""
    wanted: str | None = getattr(args, "profile", None)
    if wanted is None:
        return None
    if getattr(args, "soak", None) is not None:
        raise BenchError("--profile samples a phase of `python -m bench`, not a soak")
    if wanted not in [p.name for p in phases]:
        raise BenchError(f"--profile {wanted}: the run has no phase {wanted} (see --phases)")
    return wanted
