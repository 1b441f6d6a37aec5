"""The cluster tier's own machinery: three nodes form one cluster, a quorum queue declared
through the balancer is replicated on all three, and the balancer spreads connections."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from tests.cluster.balancer import Balancer
from tools.private_nodes.cluster import PrivateCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


async def test_three_nodes_a_replicated_quorum_queue_and_spread_connections(
    cluster: PrivateCluster, vhost: str, balancer: Balancer
) -> None:
    assert len(cluster.running_nodes()) == 3

    connections = [await aio_pika.connect(balancer.url(vhost)) for _ in range(6)]
    try:
        channel = await connections[0].channel()
        await channel.declare_queue(
            "cluster.infra", durable=True, arguments={"x-queue-type": "quorum"}
        )
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))

    queue = (await asyncio.to_thread(cluster.queues, vhost))["cluster.infra"]
    assert queue["type"] == "quorum"
    assert sorted(queue["members"]) == sorted(node.node for node in cluster.nodes)
    assert queue["leader"] in queue["members"]
    # Round robin over three live nodes: six connections, two each.
    assert sorted(balancer.connections.values()) == [2, 2, 2], balancer.connections
