"""The register phase's tables (bench.register.phase's figures)."""

from __future__ import annotations

from typing import Any

from bench.report import table


def _times(label: str, ms: dict[str, Any]) -> list[Any]:
    return [label, ms["p50"], ms["p95"], ms["max"]]


def _process(label: str, fp: dict[str, Any]) -> list[Any]:
    return [label, fp["rss_mib"], fp["pss_mib"], fp["uss_mib"]]


def _job(label: str, footprints: dict[str, Any], which: str) -> list[Any]:
    return [label, *(footprints[f"job_{m}_mib"][which] for m in ("rss", "pss", "uss"))]


def render_register(r: dict[str, Any]) -> str:
    first, burst = r["first_call"], r["burst"]
    out = [
        f"\nregister: the edge pod (the SDK's worker, one job process per call), "
        f"{r['calls']} calls: one alone, then {burst['calls']} at once (all up in "
        f"{burst['all_up_s']} s, pod CPU {burst['pod_cpu_ms_per_call']} ms per call start)\n"
    ]
    out.append(
        table(
            ("per call", "p50 ms", "p95 ms", "max ms"),
            [
                _times("alone: assigned -> DTMF subscribed", first["to_subscribed_ms"]),
                _times("alone: assigned -> greeting heard", first["to_greeting_ms"]),
                _times("burst: assigned -> DTMF subscribed", burst["to_subscribed_ms"]),
                _times("burst: assigned -> greeting heard", burst["to_greeting_ms"]),
                _times("press -> reply heard (every call at once)", r["press_to_reply_ms"]),
            ],
        )
    )
    heard = ", ".join(f"{count} x {text!r}" for text, count in r["press_heard"].items())
    out.append(f"every caller pressed 1 and heard: {heard}\n")
    idle, busy = r["pod_idle"], r["pod_in_calls"]
    rows = [
        _process("worker", busy["worker"]),
        _process("fork server", busy["fork_server"]),
        _process("resource tracker", busy["others"]),
        _job("job process in a call (median)", busy, "median"),
        _job("job process in a call (max)", busy, "max"),
        _job("job process idle (median)", idle, "median"),
        _process(f"pod, idle ({idle['processes']} job processes)", idle["pod"]),
        _process(f"pod, in calls ({busy['processes']} job processes)", busy["pod"]),
    ]
    out.append("\nmemory of the pod's processes, MiB\n")
    out.append(table(("process", "RSS", "PSS", "USS"), rows))
    b = r["broker"]
    out.append("\nbroker, per live call (the vhost's objects; the node's RSS and Erlang's count)\n")
    out.append(
        table(
            ("connections", "channels", "queues", "RSS KiB", "Erlang KiB", "of it binaries"),
            [
                [
                    b["connections_per_call"],
                    b["channels_per_call"],
                    b["queues_per_call"],
                    b["rss_kib_per_call"],
                    b["erlang_kib_per_call"],
                    b["binary_kib_per_call"],
                ]
            ],
        )
    )
    out.append(
        f"after every call hung up: {b['queues_after_hangup']} queues and "
        f"{b['connections_after_hangup']} connections left, the node's RSS "
        f"{b['rss_after_hangup_mib']:+} MiB, Erlang's count {b['erlang_after_hangup_mib']:+} MiB\n"
    )
    out.append(f"pod exit status after SIGTERM: {r['pod_exit_code']}\n")
    return "".join(out)
