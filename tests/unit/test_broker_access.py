"""The role permissions (tools/broker_access) against the names the code uses, and the CA
setting of broker URLs."""

from __future__ import annotations

import re

from contracts import topology as t
from contracts.keys import KEYS, key_routing_key
from contracts.shared_topology import shared_topology
from services.runtime.settings import Settings
from tools.broker_access.permissions import edge_grant, service_grant
from tools.broker_access.roles import project_grants, project_services, service_shape


def matches(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None  # RabbitMQ searches, unanchored


def test_the_edge_may_publish_every_event_it_makes_and_nothing_else() -> None:
    write = next(g.write for g in edge_grant().topics if g.exchange == t.EVENTS_EXCHANGE)
    made = [key_routing_key(k) for k in KEYS] + [f"collect.{key_routing_key(k)[5:]}" for k in KEYS]
    made += ["call.started", "call.ended", "input.account"]
    assert all(matches(write, key) for key in made)
    for other in ("dtmf.#", "dtmf.1.x", "service.announce", "input.", "xdtmf.1", "input.A"):
        assert not matches(write, other), other


def test_a_service_reaches_its_own_queue_and_bindings_only() -> None:
    services = {s.name: s for s in project_services()}
    grants = {name: service_grant(service_shape(s)) for name, s in services.items()}
    sales = grants["sales"]
    assert matches(sales.read, t.service_queue("sales"))
    for other in (
        t.service_queue("billing"),
        t.service_queue("sales") + "x",
        "x" + t.service_queue("sales"),
        t.reply_queue("e1"),
    ):
        assert not matches(sales.read, other), other
        assert not matches(sales.configure, other), other
    assert not matches(sales.write, t.EVENTS_EXCHANGE)
    routes = next(g.read for g in sales.topics if g.exchange == t.ROUTES_EXCHANGE)
    assert matches(routes, "dtmf.1") and not matches(routes, "dtmf.3")
    # Only billing may bind billing's gathered digits; the call log binds "#" (every event).
    events = {
        n: next(x.read for x in g.topics if x.exchange == t.EVENTS_EXCHANGE)
        for n, g in grants.items()
    }
    assert [n for n, read in events.items() if matches(read, "input.account")] == ["billing"]
    assert [n for n, read in events.items() if matches(read, "#")] == ["calllog"]
    assert not matches(grants["calllog"].write, t.REPLIES_EXCHANGE)
    assert all(matches(grants[n].write, t.REPLIES_EXCHANGE) for n in ("sales", "billing", "menu"))


def test_no_role_may_declare_or_delete_the_shared_topology() -> None:
    # configure would let a role delete what every call needs: the administrator's alone.
    topology = shared_topology()
    shared = {x.name for x in topology.exchanges} | {q.name for q in topology.queues}
    for grant in project_grants():
        assert not [name for name in shared if matches(grant.configure, name)], grant.role


def test_only_an_administrator_reads_the_dead_letters() -> None:
    # Dead letters carry every service's presses; every role that handles messages may
    # still dead-letter what it cannot handle.
    for grant in project_grants():
        assert not matches(grant.read, t.DEAD_QUEUE), grant.role
        assert matches(grant.write, t.DEAD_EXCHANGE) == (grant.role != "monitor"), grant.role


def test_the_edge_configures_its_reply_queues_only() -> None:
    edge = edge_grant()
    assert matches(edge.configure, t.reply_queue("e1"))
    assert not matches(edge.configure, t.service_queue("sales"))
    assert not matches(edge.read, t.EVENTS_EXCHANGE)  # it cannot bind dtmf.events: no presses


def test_the_ca_file_goes_to_every_amqps_node_that_names_none() -> None:
    env = {
        "AMQP_URL": "amqps://u:p@a:5671/,amqps://u:p@b/v?cafile=/own.pem,amqp://u:p@c/",
        "AMQP_CA_FILE": "/etc/ca/ca.crt",
    }
    assert Settings.from_env(env).amqp_url.split(",") == [
        "amqps://u:p@a:5671/?cafile=/etc/ca/ca.crt",
        "amqps://u:p@b/v?cafile=/own.pem",
        "amqp://u:p@c/",
    ]
    assert Settings.from_env({"AMQP_URL": "amqps://u:p@a/"}).amqp_url == "amqps://u:p@a/"
