"""Names of every exchange and queue, and how service queues are configured.

Kept in one place so that any service, in any language, declares the same
topology with the same arguments (RabbitMQ refuses a redeclaration that differs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

EVENTS_EXCHANGE = "dtmf.events"  # topic: dtmf.<word>, call.started, call.ended
ROUTES_EXCHANGE = "dtmf.routes"  # topic, bound to events with dtmf.#; services bind keys here
UNROUTED_EXCHANGE = "dtmf.unrouted"  # fanout: alternate exchange of dtmf.routes
REPLIES_EXCHANGE = "dtmf.replies"  # direct: routing key = edge instance id
DEAD_EXCHANGE = "dtmf.dead"  # fanout
DEAD_QUEUE = "dtmf.dead"

ROUTES_BINDING = "dtmf.#"
ALL_EVENTS_BINDING = "#"

# Header names the runtime sets on dead letters it publishes itself.
DEAD_REASON_HEADER = "x-dtmf-dead-reason"
DEAD_SERVICE_HEADER = "x-dtmf-service"
DEAD_EXCHANGE_HEADER = "x-dtmf-original-exchange"
DEAD_ROUTING_KEY_HEADER = "x-dtmf-original-routing-key"
DEAD_AT_HEADER = "x-dtmf-dead-at"

DEFAULT_DELIVERY_LIMIT = 5
DEFAULT_INTERACTIVE_TTL_MS = 5000

CONTENT_TYPE = "application/json"


def service_queue(service: str) -> str:
    return f"dtmf.svc.{service}"


def reply_queue(edge_id: str) -> str:
    return f"dtmf.edge.{edge_id}"


# An edge's reply queue is declared exclusive (it lives and dies with the edge's connection)
# with these arguments: a classic queue on the node the edge is connected to, declared again
# after a reconnect. Replies are published mandatory, and the broker returns one that meets
# no queue: the service retries it until the queue is back or the edge would have given up.
# It needs no quorum, so a call starts while the cluster has lost it, and no Raft group per
# call (in register mode every call is an edge process of its own).
REPLY_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "classic"}


def service_queue_arguments(
    *,
    interactive: bool,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
    ttl_ms: int = DEFAULT_INTERACTIVE_TTL_MS,
) -> dict[str, Any]:
    """Quorum queue arguments; interactive queues expire presses nobody waits for any more."""
    args: dict[str, Any] = {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_EXCHANGE,
        # At-most-once dead-lettering (the default) loses a message that expires or reaches
        # the delivery limit while the queue's leader changes; at-least-once keeps it until
        # dtmf.dead has confirmed it. RabbitMQ requires reject-publish overflow for that
        # (it only acts on a length limit, which these queues do not set).
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    if interactive:
        args["x-message-ttl"] = ttl_ms
        # One consumer at a time (the others wait as hot standbys), so the presses of a
        # call are handled in the order they were pressed even with several replicas.
        args["x-single-active-consumer"] = True
    return args


# ----------------------------------------------------------------- queue expiry (a policy)
#
# An interactive service that stops for good leaves its queue bound: its keys would go into a
# queue nobody reads, and the caller would hear nothing but the edge's timeout prompt. RabbitMQ
# deletes a queue left unused (no consumer, no redeclaration, no basic.get) for `expires`
# milliseconds, bindings included, so its keys fall back to the menu through dtmf.unrouted.
# It is set by an operator policy, not by an `x-expires` argument: a queue argument cannot be
# changed on an existing queue (every deployed service's redeclaration would fail with
# PRECONDITION_FAILED), and an operator policy leaves the user policies to the operators.
#
# 60 s: far longer than a restart (the standby of a single-active-consumer queue takes over at
# once, a rolling update surges a new pod before the old one goes, a restarted process consumes
# again within seconds) and than a press may live (DEFAULT_INTERACTIVE_TTL_MS), so an expiring
# queue holds nothing anyone still waits for; and shorter than the 90 s after which the menu
# forgets a service that went silent (ServiceAnnouncement.valid_for_s), so the queue is gone
# before the menu stops offering its keys. RabbitMQ checks quorum queues for expiry on their
# tick (5 s by default): a queue goes between 60 and about 65 s after its last consumer.
QUEUE_EXPIRY_POLICY = "dtmf-interactive-queue-expiry"
DEFAULT_QUEUE_EXPIRES_MS = 60_000
# Queues that keep what they hold with nobody reading (never expire): the call log's.
NON_INTERACTIVE_SERVICES: tuple[str, ...] = ("calllog",)


@dataclass(frozen=True)
class QueuePolicy:
    """A RabbitMQ (operator) policy: `rabbitmqctl set_operator_policy NAME PATTERN DEFINITION
    --apply-to APPLY_TO --priority PRIORITY`, or the same fields over HTTP or Kubernetes."""

    name: str
    pattern: str
    definition: dict[str, Any]
    apply_to: str = "queues"
    # Only one operator policy applies to a queue, the one of highest priority: 1 wins over a
    # catch-all operator policy left at the default priority 0.
    priority: int = 1


def queue_expiry_pattern(non_interactive: tuple[str, ...] = NON_INTERACTIVE_SERVICES) -> str:
    """The service queues of interactive services: dtmf.svc.<name>, but not the call log's."""
    excluded = "|".join(re.escape(name) for name in non_interactive)
    return rf"^{re.escape(service_queue(''))}(?!(?:{excluded})$)[^.]+$"


def queue_expiry_policy(*, expires_ms: int = DEFAULT_QUEUE_EXPIRES_MS) -> QueuePolicy:
    if expires_ms <= 0:
        raise ValueError(f"expires_ms must be positive, not {expires_ms}")
    return QueuePolicy(QUEUE_EXPIRY_POLICY, queue_expiry_pattern(), {"expires": expires_ms})
