"""The tables `python -m bench.replyqueues` prints from its JSON document."""

from __future__ import annotations

from typing import Any

from bench.report import table

ROUND_HEADERS = (
    "design",
    "calls",
    "fail",
    "start p50 ms",
    "p99 ms",
    "max ms",
    "broker CPU ms/start",
    "live CPU us/s/call",
    "conn KB/call",
    "queue KB/call",
    "RSS KB/call",
    "handles/call",
    "teardown p50 ms",
    "p99 ms",
    "cleanup s",
    "cleanup CPU ms/call",
)


def _round_row(r: dict[str, Any]) -> list[Any]:
    if r.get("skipped"):
        return [r["label"], r["calls"], "skipped:", r["skipped"]] + [None] * 12
    mem = r["memory_kb_per_call"]
    return [
        r["label"],
        r["calls"],
        r["failed"],
        r["start_ms"]["p50"],
        r["start_ms"]["p99"],
        r["start_ms"]["max"],
        r["broker_cpu_ms_per_start"],
        r["broker_live_cpu_us_per_s_per_call"],
        mem["connection"],
        mem["queue"],
        mem["rss"],
        r["broker_handles_per_call"],
        r["teardown_ms"]["p50"],
        r["teardown_ms"]["p99"],
        r["cleanup_s"],
        r["broker_cpu_ms_per_cleanup"],
    ]


RESTART_HEADERS = (
    "design",
    "routed before",
    "queue after restart",
    "kept by broker",
    "edge back s",
    "out after restart",
    "new reply routed",
)


def _restart_row(r: dict[str, Any]) -> list[Any]:
    return [
        r["label"],
        f"{r['replies_routed_before']}/{r['replies_published']}",
        "yes" if r["queue_after_restart"] else "no",
        r["replies_kept_by_broker"],
        r["edge_back_after_s"],
        r["replies_out_after_restart"],
        "yes" if r["new_reply_routed"] and r["new_reply_received"] else "no",
    ]


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    out = [
        f"dtmf-bus reply queues  {doc['started_at']}  {m['cores']} cores, RabbitMQ "
        f"{m.get('rabbitmq') or '?'} ({doc['config']['broker']} node), aio-pika {m['aio_pika']}\n",
        "call start = connect + channel + declare + bind + consume; per call figures are "
        "deltas over the round, net of the broker's idle CPU\n",
        table(ROUND_HEADERS, [_round_row(r) for r in doc["rounds"]]),
    ]
    if doc["restart"]:
        out.append(
            "\nbroker restart (single node): replies confirmed before, what is there after\n"
        )
        out.append(table(RESTART_HEADERS, [_restart_row(r) for r in doc["restart"].values()]))
    for mode, phases in ((doc.get("cluster") or {}).get("modes") or {}).items():
        out.append(f"\n3-node cluster ({mode}): node 0 killed, the edge redeclares on node 1\n")
        out.append(table(LOSS_HEADERS, [_loss_row(r) for r in phases["node_loss"].values()]))
        out.append(f"\n3-node cluster ({mode}): nodes 1 and 2 killed, a new call on node 0\n")
        out.append(table(QUORUM_HEADERS, [_quorum_row(r) for r in phases["quorum_loss"].values()]))
    return "".join(out)


LOSS_HEADERS = ("design", "home", "redeclared", "ms", "replies out", "new reply", "received")
QUORUM_HEADERS = ("design", "call starts", "ms", "a reply to it", "why not")


def _loss_row(r: dict[str, Any]) -> list[Any]:
    return [
        r["label"],
        r["home"],
        "yes" if r["redeclared"] else "no",
        r["redeclare_ms"],
        f"{r['replies_out']}/{r['replies_routed_before']}",
        r["new_reply"],
        "yes" if r["new_reply_received"] else "no",
    ]


def _quorum_row(r: dict[str, Any]) -> list[Any]:
    return [r["label"], "yes" if r["ok"] else "no", r["ms"], r["reply"], (r["error"] or "")[:90]]
