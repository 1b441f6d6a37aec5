"""The benchmark's result document as text tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import rounds
from bench.faststream import compare


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        # first column left-aligned (names), numbers right-aligned
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])]) + "\n"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _load(p: dict[str, Any]) -> str:
    if p["interval_s"] is not None:
        # .3g: a load derived in the run (half-floor) has an interval like 1.99336 s
        return f"{p['calls']} calls / {p['interval_s']:.3g}s"
    return f"C={p['calls']}"


def _main_rows(phases: Sequence[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for p in phases:
        lat = p["latency_ms"]
        rows.append(
            [
                p["name"],
                _load(p),
                p["presses_per_s"],
                p["replies_per_s"],
                lat["p50"],
                lat["p90"],
                lat["p99"],
                lat["max"],
                p["lost"] + p["errors"],
                p["shed"],
                (p["schedule_lag_ms"] or {}).get("p99"),
                f"{p['machine_cpu_pct']:.0f}%",
                f"{p.get('other_cpu_pct', 0):.0f}%",
            ]
        )
    return rows


MAIN_HEADERS = (
    "phase",
    "load",
    "presses/s",
    "replies/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "lost",
    "shed",
    "lag p99 ms",
    "machine CPU",
    "not ours",
)


def render(doc: dict[str, Any]) -> str:
    out: list[str] = []
    phases = list(doc["phases"].values())
    scaling = doc.get("scaling") or []
    machine = doc["machine"]
    out.append(
        f"dtmf-bus benchmark  {doc['started_at']}  {machine['cores']} cores, "
        f"Python {machine['python']}, aio-pika {machine['aio_pika']}, "
        f"RabbitMQ {machine.get('rabbitmq') or '?'}\n"
    )
    out.append(
        "press -> reply applied, measured at the edge (lost = no reply within timeout; "
        "shed = not sent, the edge said busy)\n"
    )
    shown = phases + [p for p in scaling if all(p is not q for q in phases)]
    out.append(table(MAIN_HEADERS, _main_rows(shown)))
    out.append(
        "(machine CPU: 200% = both cores; not ours: CPU of processes outside the benchmark)\n"
    )
    noisy = [p["name"] for p in shown if (p.get("other_cpu_pct") or 0) > 20]
    if noisy:
        out.append(f"WARNING: other work ran on the machine during {', '.join(noisy)}\n")

    out.append("\nper process (CPU % of one core; CPU us per reply; peak RSS in the window)\n")
    rows = []
    for p in shown:
        for name, u in p["processes"].items():
            rows.append(
                [
                    f"{p['name']} {name}",
                    u["cpu_s"],
                    u["cpu_pct"],
                    u["cpu_us_per_reply"],
                    u["peak_rss_mb"],
                ]
            )
        if p.get("cpu_us_per_reply") is not None:
            rows.append([f"{p['name']} (all)", None, None, p["cpu_us_per_reply"], None])
    out.append(table(("phase process", "CPU s", "CPU %", "CPU us/reply", "peak RSS MB"), rows))

    mem_rows = []
    for p in shown:
        m = p.get("edge_memory")
        if m:
            mem_rows.append(
                [
                    p["name"],
                    m["live_calls"],
                    m["traced_bytes_per_call"],
                    m["rss_delta_bytes_per_call"],
                    m["rss_under_load_bytes_per_call"],
                ]
            )
    if mem_rows:
        out.append("\nedge memory per live call (bytes)\n")
        out.append(
            table(
                ("phase", "live calls", "heap (tracemalloc)", "RSS delta", "RSS delta under load"),
                mem_rows,
            )
        )

    services = set(doc.get("services") or ())
    if scaling:
        out.append(
            f"\nscaling: open loop, one press per call every {scaling[0]['interval_s']:g} s\n"
        )
        srows = []
        for p in scaling:
            procs = p["processes"]
            edge_cpu = sum(u["cpu_pct"] for n, u in procs.items() if n.startswith("edge"))
            svc_cpu = sum(u["cpu_pct"] for n, u in procs.items() if n in services)
            broker = procs.get("rabbitmq", {}).get("cpu_pct")
            mem = p.get("edge_memory") or {}
            srows.append(
                [
                    p["calls"],
                    p["presses_per_s"],
                    p["replies_per_s"],
                    p["latency_ms"]["p50"],
                    p["latency_ms"]["p99"],
                    p["latency_ms"]["max"],
                    p["lost"] + p["errors"],
                    p["shed"],
                    f"{edge_cpu:.0f}%",
                    f"{svc_cpu:.0f}%",
                    f"{broker:.0f}%" if broker is not None else "-",
                    f"{p['machine_cpu_pct']:.0f}%",
                    mem.get("rss_under_load_bytes_per_call"),
                ]
            )
        out.append(
            table(
                (
                    "calls",
                    "presses/s",
                    "replies/s",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "lost",
                    "shed",
                    "edge CPU",
                    "services CPU",
                    "broker CPU",
                    "machine CPU",
                    "edge B/call",
                ),
                srows,
            )
        )

    out.append(compare.render(doc["phases"], table))

    s = doc["summary"]
    out.append("\nsummary\n")
    if s["ratio_to_baseline"] is not None:
        out.append(
            f"  saturation (closed loop): {s['saturation_replies_per_s']:,.0f} replies/s = "
            f"{s['ratio_to_baseline']:.2f}x the baseline's {s['baseline_replies_per_s']:,.0f}/s\n"
        )
    elif s["saturation_replies_per_s"] is not None:
        out.append(f"  saturation (closed loop): {s['saturation_replies_per_s']:,.0f} replies/s\n")
    if s.get("cpu_ratio_to_baseline") is not None:
        out.append(
            f"  CPU per reply: baseline / system = {s['cpu_ratio_to_baseline']:.2f} "
            "(the ratio on an otherwise idle machine, both CPU-bound)\n"
        )
    if s.get("ratio_to_matched_baseline") is not None:
        design = (
            f"; that baseline is {s['matched_to_baseline']:.2f}x the lean one"
            if s.get("matched_to_baseline") is not None
            else ""
        )
        out.append(
            f"  against the baseline on dtmf-bus's topology and durability (no application "
            f"code): {s['ratio_to_matched_baseline']:.2f}x its "
            f"{s['matched_baseline_replies_per_s']:,.0f}/s{design}\n"
        )
    if s.get("matched_open_p99_ms") is not None and s.get("open_p99_ms") is not None:
        out.append(
            f"  p99 at the open phase's load: system {s['open_p99_ms']} ms, the same load on "
            f"that baseline {s['matched_open_p99_ms']} ms\n"
        )
    out.append(
        f"  lost presses: {s['lost_presses']}, failed presses: {s['failed_presses']}, "
        f"shed presses: {s['shed_presses']}\n"
    )
    for name, t in s["targets"].items():
        out.append(f"  target {name}: {t['target']}, measured {t['measured']} -> {_verdict(t)}\n")
    by_round = rounds.round_lines(s["targets"])
    if by_round:
        out.append("  by round (each round in the reverse order of the one before):\n")
        out.extend(f"    {line}\n" for line in by_round)
    for name, reason in (doc.get("failed_phases") or {}).items():
        out.append(f"  phase {name} FAILED: {reason.splitlines()[0]}\n")
    if not doc.get("services_stopped_cleanly", True):
        out.append("  WARNING: a service did not stop cleanly (see --keep-logs)\n")
    return "".join(out)


def _verdict(target: dict[str, Any]) -> str:
    # Judged over --rounds: "unsettled" when some rounds meet it and others do not.
    verdict = target.get("verdict") or ("met" if target["met"] else "missed")
    return verdict if verdict == "met" else verdict.upper()


def _rss_at(series: dict[str, Any], t: float) -> float | None:
    """The RSS sample nearest to `t` (s into the soak window), if one is within 60 s."""
    pairs = list(zip(series["t_s"], series["rss_mb"], strict=True))
    if not pairs:
        return None
    at, mb = min(pairs, key=lambda p: abs(p[0] - t))
    return float(mb) if abs(at - t) <= 60 else None


def _saturation(doc: dict[str, Any]) -> str:
    measured = doc["saturation"]
    text = (
        f"saturation (closed loop, C={measured['calls']}): {measured['replies_per_s']:,.0f} "
        f"replies/s measured, other work {measured['other_cpu_pct']:.0f}% CPU"
    )
    if doc["soak"]["saturation_pinned"]:
        text += f"; taken as {doc['soak']['saturation_replies_per_s']:,.0f} (--soak-saturation)"
    return text + "\n"


def render_soak(doc: dict[str, Any]) -> str:
    """The soak run (bench.soak): its load, each window's latency, each process's RSS."""
    s, soak, machine = doc["summary"], doc["soak"], doc["machine"]
    out = [
        f"dtmf-bus soak  {doc['started_at']}  {machine['cores']} cores, "
        f"Python {machine['python']}, aio-pika {machine['aio_pika']}, "
        f"RabbitMQ {machine.get('rabbitmq') or '?'}\n",
        _saturation(doc),
        f"soak at {100 * soak['fraction']:g}% of it: {soak['calls']} calls x 1 press / "
        f"{soak['interval_s']:g} s = {soak['presses_per_s']:.1f} presses/s for "
        f"{s['minutes']:g} min\n",
        f"load average before {doc['load_average']['before']}, "
        f"after {doc['load_average']['after']}\n",
        "\nper window: press -> reply applied at the edge, by when the press was made "
        "(p50/p99 from histograms, within 0.4 %)\n",
    ]
    rows = [
        [
            w["window"],
            f"{w['from_s'] / 60:g}-{w['to_s'] / 60:g}",
            w["answered"],
            w["latency_ms"]["p50"],
            w["latency_ms"]["p99"],
            w["latency_ms"]["max"],
            w["unanswered"],
            None if w["machine_cpu_pct"] is None else f"{w['machine_cpu_pct']:.0f}%",
            None if w["not_ours_pct"] is None else f"{w['not_ours_pct']:.0f}%",
        ]
        for w in doc["windows"]
    ]
    headers = ("window", "minutes", "answered", "p50 ms", "p99 ms", "max ms", "unanswered")
    out.append(table((*headers, "machine CPU", "not ours"), rows))
    noisy = [str(w["window"]) for w in doc["windows"] if (w["not_ours_pct"] or 0) > 20]
    if noisy:
        out.append(f"WARNING: other work ran on the machine in window(s) {', '.join(noisy)}\n")

    marks = [0.0] + [w["to_s"] for w in doc["windows"]]
    procs = doc["rss"]["processes"]
    threshold = next(iter(procs.values()))["threshold_mb_per_h"] if procs else None
    out.append(
        f"\nRSS MB at each window's edge (every {doc['rss']['sample_s']:g} s in the JSON); "
        f"slope over the second half, MB/hour; growing: above {threshold} MB/h and new highs "
        "to the end\n"
    )
    rows = [
        [
            name,
            *(_rss_at(p, t) for t in marks),
            p["slope_mb_per_h"],
            p["verdict"],
        ]
        for name, p in procs.items()
    ]
    minutes = [f"{t / 60:g} min" for t in marks]
    out.append(table(("process", *minutes, "slope", "verdict"), rows))

    out.append("\nsummary\n")
    out.append(
        f"  presses {s['presses']:,}: lost {s['lost_presses']}, failed {s['failed_presses']}, "
        f"shed {s['shed_presses']}\n"
    )
    bus = doc.get("bus")
    if bus:
        out.append(
            f"  published presses (both phases) {bus['published']:,}: in the call log "
            f"{bus['in_call_log']:,}, missing {bus['missing']}, duplicates {bus['duplicates']}\n"
        )
    p99 = ", ".join("-" if v is None else f"{v:g}" for v in s["p99_ms_per_window"])
    out.append(f"  p99 per window (ms): {p99}\n")
    growing = ", ".join(s["growing"]) or "none"
    out.append(f"  memory growing: {growing}\n")
    if not all(code == 0 for code in doc["service_exit_codes"].values()):
        out.append("  WARNING: a service did not stop cleanly (see --keep-logs)\n")
    return "".join(out)
