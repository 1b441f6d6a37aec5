"""AMQP_URL with several nodes: a service whose node stops moves to the next one, declares
its topology there and answers again; an edge starting while the first node is down tries
the next one."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aio_pika
import pytest

from contracts.topology import service_queue
from services.edge.bus import running_edge
from services.edge.simulator import scripted_call
from services.runtime.amqp import broker
from services.runtime.amqp.broker import NodesConnection
from services.runtime.app import running_service
from services.sales import service as sales
from services.sales.service import INSTRUCTIONS as SALES
from tests.integration.conftest import SystemSettings
from tools.private_nodes.broker import PrivateBroker


@pytest.fixture
def two_nodes() -> Iterator[tuple[PrivateBroker, PrivateBroker]]:
    """Two RabbitMQ nodes of the test's own (not clustered: each has its own topology)."""
    nodes = (PrivateBroker(), PrivateBroker())
    try:
        with ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(node.start) for node in nodes]:
                started.result()
        yield nodes
    finally:
        for node in nodes:
            node.remove()


async def has_queue(url: str, name: str) -> bool:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return False
        return True


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.message for r in caplog.records if r.name == "services.runtime.amqp.broker"]


@pytest.mark.timeout(150)
async def test_a_service_moves_to_the_next_node_when_its_node_stops(
    two_nodes: tuple[PrivateBroker, PrivateBroker],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    first, second = two_nodes
    settings = SystemSettings(
        amqp_url=f"{first.url},{second.url}",
        calllog_path=tmp_path / "calllog.jsonl",
        spool_dir=tmp_path / "spool",
        edge_id="edge-nodes",
        http_port=-1,
        shutdown_timeout_s=5,
    )
    node1, node2 = (f"127.0.0.1:{node.port}" for node in two_nodes)
    queue = service_queue("sales")
    async with running_service(sales.build(settings), settings) as service:
        assert isinstance(service.connection, NodesConnection)
        assert service.connection.node == node1  # tried in order
        assert await has_queue(first.url, queue)
        assert not await has_queue(second.url, queue)
        moved = asyncio.Event()
        service.connection.reconnect_callbacks.add(lambda _: moved.set())

        await asyncio.to_thread(first.stop)
        await asyncio.wait_for(moved.wait(), 60)
        assert service.connection.node == node2
        assert service.link.up
        assert await has_queue(second.url, queue)  # its topology, declared on node 2

        # An edge starting now finds node 1 down and goes on to node 2, where the service
        # answers its press.
        async with running_edge(settings) as edge:
            result = await scripted_call(edge, ["1"], reply_timeout=10, out=lambda _: None)
        assert result.unanswered == []
        assert result.session.instructions == SALES

    logged = messages(caplog)
    assert f"dtmf-sales: connected to broker {node1}" in logged
    assert any(m.startswith(f"dtmf-sales: connection to {node1} lost (") for m in logged)
    assert f"dtmf-sales: connection restored on {node2}" in logged
    assert any(
        m.startswith(f"dtmf-edge-edge-nodes: broker {node1} did not answer (") for m in logged
    )
    assert f"dtmf-edge-edge-nodes: connected to broker {node2}" in logged
    assert ":guest@" not in caplog.text  # no password in any record


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_the_first_connection_fails_when_no_node_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="services.runtime.amqp.broker")
    one, two = closed_port(), closed_port()
    urls = f"amqp://guest:guest@127.0.0.1:{one}/,amqp://guest:guest@127.0.0.1:{two}/"
    with pytest.raises(ConnectionError):
        await broker.connect(urls, name="dtmf-nowhere")
    [warning] = messages(caplog)  # then the last node's error is raised
    assert warning.startswith(f"dtmf-nowhere: broker 127.0.0.1:{one} did not answer (")
    assert warning.endswith(f"); trying 127.0.0.1:{two}")
