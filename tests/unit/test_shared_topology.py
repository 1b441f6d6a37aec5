"""The shared topology (contracts/shared_topology.py) and what a process does with it when
its broker user may not declare it (services/runtime/amqp/topology.py): the parts without I/O."""

from __future__ import annotations

import pytest

from contracts import topology as t
from contracts.control import CONTROL_EXCHANGE
from contracts.shared_topology import SharedTopology, bus_topology, shared_topology
from services.runtime.amqp.topology import check_plan, missing_message


def names(topology: SharedTopology) -> tuple[set[str], set[str]]:
    return {x.name for x in topology.exchanges}, {q.name for q in topology.queues}


@pytest.mark.parametrize("dead_queue", [True, False])
def test_a_check_covers_every_exchange_and_queue_a_declaration_would(dead_queue: bool) -> None:
    topology = bus_topology(dead_queue=dead_queue)
    exchanges, queues = names(topology)
    plan = check_plan(topology)
    assert {name for kind, name in plan if kind == "exchange"} == exchanges
    assert {name for kind, name in plan if kind == "queue"} == queues
    assert len(plan) == len(exchanges) + len(queues)  # one passive declare each, no more


def test_an_edge_never_touches_the_dead_letter_queue() -> None:
    # It needs quorum, and an edge must start calls while the cluster has lost quorum.
    edge = bus_topology(dead_queue=False)
    assert not edge.queues
    assert all(not b.to_queue for b in edge.bindings)
    assert [q.name for q in bus_topology().queues] == [t.DEAD_QUEUE]


def test_everything_is_declared_before_what_refers_to_it() -> None:
    topology = shared_topology()
    declared: set[str] = set()
    for exchange in topology.exchanges:
        alternate = exchange.arguments.get("alternate-exchange")
        assert alternate is None or alternate in declared, exchange.name
        declared.add(exchange.name)
    exchanges, queues = names(topology)
    for b in topology.bindings:
        assert b.source in exchanges
        assert b.destination in (queues if b.to_queue else exchanges)
    assert CONTROL_EXCHANGE in exchanges


def test_a_prefixed_copy_refers_only_to_its_own_names() -> None:
    copy = bus_topology(prefix="bench.")
    exchanges, queues = names(copy)
    referred = {str(x.arguments.get("alternate-exchange", x.name)) for x in copy.exchanges}
    referred |= {b.source for b in copy.bindings} | {b.destination for b in copy.bindings}
    assert all(name.startswith("bench.") for name in exchanges | queues | referred)


def test_a_missing_object_is_named_with_the_step_that_declares_it() -> None:
    message = missing_message(
        "exchange",
        t.EVENTS_EXCHANGE,
        refused="ACCESS_REFUSED - access to exchange 'dtmf.events'",
        not_found="NOT_FOUND - no exchange 'dtmf.events'",
    )
    assert "exchange 'dtmf.events' does not exist" in message
    assert "python -m tools.broker_access topology" in message
    assert "deploy/k8s/base/broker-topology.yaml" in message
