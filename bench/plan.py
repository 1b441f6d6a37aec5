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
- register: the edge pod as Kubernetes runs it (the SDK's worker, a job process per call),
            `--register-calls` calls started at once (bench.register);
- scaling (--scaling): the open loop at several sizes, last.

`inband` (bench.inband, in-band DTMF detection's cost per call) needs no broker: bench.cli
runs it first, on a machine not yet busy with the others, and it plans no `Phase`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from bench.errors import BenchError

PHASE_KINDS = (
    "inband",
    "open",
    "closed",
    "baseline",
    "matched",
    "faststream",
    "matched-open",
    "register",
)
# The phases --profile may sample: the system's own (py-spy flame graphs of its processes).
PROFILED_KINDS = ("closed", "open")
SCALING_CALLS = (100, 1000, 5000)
DEFAULT_KEYS = "1,2,1,2,9,0,*,#"  # half served (sales, support), half the menu's fallback


@dataclass
class Phase:
    name: str
    kind: str  # open | closed | baseline (the matched ones are baselines too) | register
    calls: int
    duration: float
    baseline_kind: str | None = None
    open_loop: bool = False  # paced presses (`calls` callers) rather than `calls` concurrent

    @property
    def load(self) -> str:
        return "calls" if self.open_loop else "concurrent"


def plan(args: argparse.Namespace) -> list[Phase]:
    wanted = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(wanted) - set(PHASE_KINDS)
    if unknown:
        raise BenchError(f"unknown phase(s): {', '.join(sorted(unknown))}")
    phases: list[Phase] = []
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
        phases.append(Phase("baseline-matched", "baseline", args.concurrency, duration, "matched"))
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
    if "register" in wanted:
        phases.append(Phase("register", "register", args.register_calls, 0.0))
    # Last, smallest first: a size beyond what the machine carries leaves a backlog behind.
    for n in sorted(scaling):
        phases.append(Phase(f"open-{n}", "open", n, scaling_duration, open_loop=True))
    return phases


def profiled_phase(args: argparse.Namespace, phases: list[Phase]) -> str | None:
    """The phase --profile samples, if any; refused when the run does not have it."""
    wanted: str | None = getattr(args, "profile", None)
    if wanted is None:
        return None
    if getattr(args, "soak", None) is not None:
        raise BenchError("--profile samples a phase of `python -m bench`, not a soak")
    if wanted not in [p.name for p in phases]:
        raise BenchError(f"--profile {wanted}: the run has no phase {wanted} (see --phases)")
    return wanted
