"""A 3-node cluster: a node lost under held queues, then quorum lost under new call starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import DeliveryError, PublishError

from bench.replyqueues.calls import declare_reply_queue, end_call, start_call
from bench.replyqueues.designs import POD_PREFIX, Design, designs
from bench.replyqueues.nodes import declare_exchange
from bench.replyqueues.restart import Edge, open_edge, publish_replies
from contracts import topology as t

log = logging.getLogger("bench.replyqueues")

NODE_IN_PID = re.compile(r"<([\w-]+@[\w-]+)\.")  # <node.1.2.3>
PARTITION_MODES = ("pause_minority", "ignore")


async def publish_one(url: str, routing_key: str, timeout: float = 10.0) -> str:
    """One reply as a service sends it: "routed" (confirmed), "returned" (no queue bound),
    "nacked", "timeout" or the error that stopped it."""
    try:
        async with asyncio.timeout(timeout):
            connection = await aio_pika.connect(url)
            async with connection:
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                exchange = await channel.get_exchange(t.REPLIES_EXCHANGE)
                message = aio_pika.Message(b"reply", delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                await exchange.publish(message, routing_key=routing_key, mandatory=True)
    except TimeoutError:
        return "timeout"
    except PublishError:
        return "returned"
    except DeliveryError:
        return "nacked"
    except Exception as error:  # a down node, a closed channel: what the service would see
        return f"{type(error).__name__}: {error}"[:200]
    return "routed"


async def try_call_start(
    url: str, design: Design, pod_queue: str | None, timeout: float = 15.0
) -> dict[str, Any]:
    """A call start that may fail: ok, its time, or why not."""
    began = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            call = await start_call(url, design, f"q-{uuid.uuid4().hex[:8]}", pod_queue)
    except TimeoutError:
        return {"ok": False, "ms": None, "error": f"no answer in {timeout:g} s", "reply": None}
    except Exception as error:
        why = f"{type(error).__name__}: {error}"[:300]
        return {"ok": False, "ms": None, "error": why, "reply": None}
    ms = round(1000 * (time.perf_counter() - began), 1)
    # Started is not answered: whether a queue took a reply for it (a quorum queue without
    # a quorum confirms nothing).
    reply = await publish_one(url, call.call_id, timeout=5.0)
    with contextlib.suppress(Exception):
        await end_call(call, design)
    return {"ok": True, "ms": ms, "error": None, "reply": reply}


async def redeclare_elsewhere(
    url: str, publish_url: str, edge: Edge, replies: int, timeout: float = 15.0
) -> dict[str, Any]:
    """What the edge's reconnect does once it lands on another node: declare its queue again,
    bind, consume; then whether the replies queued before come out and a new one arrives."""
    began = time.perf_counter()
    received: list[bytes] = []

    async def keep(message: AbstractIncomingMessage) -> None:
        received.append(message.body)
        await message.ack()

    result: dict[str, Any] = {"home_lost": None}
    connection = None
    try:
        async with asyncio.timeout(timeout):
            connection = await aio_pika.connect(url)
            channel = await connection.channel()
            queue = await _redeclare(channel, edge)
            await queue.bind(t.REPLIES_EXCHANGE, routing_key=edge.call_id)
            await queue.consume(keep)
        result.update(redeclared=True, redeclare_ms=_ms_since(began), error=None)
    except Exception as error:
        reason = "no answer" if isinstance(error, TimeoutError) else f"{type(error).__name__}"
        result.update(redeclared=False, redeclare_ms=None, error=f"{reason}: {error}"[:300])
    await _wait_for(lambda: len(received) >= replies, 3.0 if result["redeclared"] else 0.0)
    result["replies_out"] = len(received)
    result["new_reply"] = await publish_one(publish_url, edge.call_id)
    await _wait_for(lambda: len(received) > result["replies_out"], 3.0)
    result["new_reply_received"] = len(received) > result["replies_out"]
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.close()
    return result


async def _redeclare(channel: AbstractChannel, edge: Edge) -> AbstractQueue:
    design = edge.design
    if design.shared:
        return await channel.declare_queue(
            edge.queue_name, durable=True, arguments=dict(design.arguments)
        )
    return await declare_reply_queue(channel, design, edge.call_id, None)


def _ms_since(began: float) -> float:
    return round(1000 * (time.perf_counter() - began), 1)


async def _wait_for(done: Callable[[], bool], timeout: float) -> None:
    for _ in range(max(0, int(timeout / 0.1))):
        if done():
            return
        await asyncio.sleep(0.1)


async def node_loss_phase(
    urls: Sequence[str],
    chosen: Sequence[Design],
    kill_first: Callable[[], None],
    homes: Callable[[], dict[str, str]],
    replies: int = 5,
) -> dict[str, dict[str, Any]]:
    """Edges connected to node 0 hold their queues with replies waiting; node 0 is killed;
    each edge then redeclares from node 1 (as a robust reconnect through the Service would)."""
    edges = [await open_edge(urls[0], pinned(d)) for d in chosen if d.queue]
    try:
        routed = await publish_replies(urls[1], [e.call_id for e in edges], replies)
        where = await asyncio.to_thread(homes)
        await asyncio.to_thread(kill_first)
        results = {}
        for edge in edges:
            after = await redeclare_elsewhere(urls[1], urls[2], edge, replies)
            after["home_lost"] = where.get(edge.queue_name) == "node0"
            results[edge.design.name] = {
                "design": edge.design.name,
                "label": edge.design.label,
                "home": where.get(edge.queue_name),
                "replies_routed_before": routed[edge.call_id],
                **after,
            }
        return results
    finally:
        for edge in edges:  # their node is gone: drop the robust reconnect loops
            with contextlib.suppress(Exception):
                await edge.connection.close()


def pinned(design: Design) -> Design:
    """The design with its queue on the node its edge is connected to, the node that the
    node-loss phase kills. A quorum leader and an exclusive queue start there anyway; a classic
    queue goes where the locator puts it (min-masters under the operator: any node)."""
    classic = design.queue and not design.exclusive
    if not classic or design.arguments.get("x-queue-type") == "quorum":
        return design
    local = {**design.arguments, "x-queue-master-locator": "client-local"}
    return replace(design, arguments=local)


async def quorum_loss_phase(
    url: str, chosen: Sequence[Design], pod_queue: str, timeout: float = 15.0
) -> dict[str, dict[str, Any]]:
    """New call starts on the one node left of three."""
    return {
        d.name: {
            "design": d.name,
            "label": d.label,
            **await try_call_start(url, d, pod_queue if d.shared else None, timeout),
        }
        for d in chosen
    }


def run_cluster(chosen: Sequence[Design], replies: int, modes: Sequence[str]) -> dict[str, Any]:
    """Per partition handling mode, a fresh 3-node cluster (tools.private_nodes.cluster):
    node 0 killed under held queues, then 2 of 3 nodes killed under new call starts."""
    from tools.private_nodes.cluster import PrivateCluster

    results: dict[str, Any] = {}
    for mode in modes:
        cluster = PrivateCluster()
        try:
            for node in cluster.nodes:  # the operator's default is pause_minority
                conf = node.base / "rabbitmq.conf"
                conf.write_text(conf.read_text().replace("pause_minority", mode))
            log.info("cluster (%s): forming 3 nodes", mode)
            cluster.form()
            vhost = f"dtmf-bench-rq-{uuid.uuid4().hex[:10]}"
            cluster.add_vhost(vhost)
            results[mode] = asyncio.run(_on_cluster(cluster, vhost, chosen, replies))
        finally:
            cluster.remove()
    return {"measured": True, "modes": results}


async def _on_cluster(
    cluster: Any, vhost: str, chosen: Sequence[Design], replies: int
) -> dict[str, Any]:
    nodes = cluster.nodes
    urls = [f"amqp://guest:guest@127.0.0.1:{n.port}/{quote(vhost, safe='')}" for n in nodes]
    names = {n.node: f"node{i}" for i, n in enumerate(nodes)}
    await declare_exchange(urls[0])

    def homes() -> dict[str, str]:
        """Queue -> the node of its process (a quorum queue's: its leader's)."""
        out = cluster.any_running().ctl(
            "list_queues", "-q", "-p", vhost, "--no-table-headers", "name", "pid"
        )
        homes = {}
        for line in out.splitlines():
            if found := NODE_IN_PID.search(line):
                homes[line.split()[0]] = names.get(found.group(1), found.group(1))
        return homes

    log.info("cluster: node 0 killed under the edges' queues")
    loss = await node_loss_phase(urls, chosen, lambda: cluster.kill(nodes[0]), homes, replies)
    await asyncio.to_thread(cluster.start, nodes[0])
    pod = f"{POD_PREFIX}quorum-loss"
    await _declare_pod(urls[0], pod, designs()["pod"])
    log.info("cluster: nodes 1 and 2 killed, new calls on node 0")
    await asyncio.to_thread(cluster.kill, nodes[1])
    await asyncio.to_thread(cluster.kill, nodes[2])
    await asyncio.sleep(3.0)  # node 0 sees both go down (and, under pause_minority, pauses)
    return {"node_loss": loss, "quorum_loss": await quorum_loss_phase(urls[0], chosen, pod)}


async def _declare_pod(url: str, name: str, design: Design) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(name, durable=True, arguments=dict(design.arguments))
