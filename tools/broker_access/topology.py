"""The administrator's step: declare the shared topology (contracts/shared_topology.py) that
the roles may use but not declare. Development and tests; Kubernetes applies the same objects
through the Messaging Topology Operator (manifests.py, broker-topology.yaml)."""

from __future__ import annotations

import logging

from aiormq.exceptions import ChannelAccessRefused

from contracts.shared_topology import SharedTopology, shared_topology
from services.runtime.amqp import broker
from services.runtime.amqp.topology import declare

log = logging.getLogger(__name__)


class NotAnAdministrator(RuntimeError):
    """The URL's user may not declare the shared topology."""


def describe(topology: SharedTopology) -> str:
    exchanges = ", ".join(x.name for x in topology.exchanges)
    queues = ", ".join(q.name for q in topology.queues)
    return f"exchanges {exchanges}; queue {queues}; {len(topology.bindings)} bindings"


async def declare_shared_topology(url: str) -> SharedTopology:
    """Declare it all with `url` (AMQP_URL: one node or several), an administrator's."""
    topology = shared_topology()
    connection = await broker.connect(url, name="dtmf-topology-admin")
    try:
        channel = await connection.channel()
        try:
            await declare(channel, topology)
        except ChannelAccessRefused as error:
            raise NotAnAdministrator(
                f"{error}: declaring the shared topology takes an administrator's AMQP_URL "
                "(configure, write and read on every name in the vhost)"
            ) from error
    finally:
        await connection.close()
    log.info("shared topology declared: %s", describe(topology))
    return topology
