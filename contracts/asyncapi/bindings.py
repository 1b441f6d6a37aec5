"""AMQP bindings (AMQP binding 0.3.0): how exchanges, queues and publishes map onto AsyncAPI.

- A channel with `is: routingKey` is a routing-key pattern on an exchange: its address is the
  routing key (`{key}` and `{name}` are parameters), its binding names the exchange. Publishers
  (`send` operations) use these.
- A channel with `is: queue` is a queue a consumer reads (`receive` operations). The binding
  has no field for queue arguments nor for the queue's bindings, so they travel in extension
  fields of the binding: `x-queue-arguments` (declare the queue with exactly these: RabbitMQ
  refuses a redeclaration that differs) and `x-queue-bindings` (exchange and routing key).
  Likewise `x-exchange-arguments` and `x-exchange-bindings` for exchanges.
"""

from __future__ import annotations

from typing import Any

BINDING_VERSION = "0.3.0"
DELIVERY_PERSISTENT = 2
VHOST = "/"


def amqp(fields: dict[str, Any]) -> dict[str, Any]:
    """A bindings object for AMQP; every binding names its version, after its fields."""
    return {"amqp": {**fields, "bindingVersion": BINDING_VERSION}}


def exchange(
    name: str,
    kind: str,
    *,
    arguments: dict[str, Any] | None = None,
    bindings: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A routing-key channel's binding: the exchange it is on (all are durable)."""
    declared = {"name": name, "type": kind, "durable": True, "autoDelete": False, "vhost": VHOST}
    fields: dict[str, Any] = {"is": "routingKey", "exchange": declared}
    if arguments is not None:
        fields["x-exchange-arguments"] = arguments
    if bindings is not None:
        fields["x-exchange-bindings"] = bindings
    return amqp(fields)


def queue(
    name: str,
    *,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
    arguments: dict[str, Any],
    bindings: list[dict[str, str]],
) -> dict[str, Any]:
    """A queue channel's binding; an empty name is a server-named queue, so it has none."""
    declared: dict[str, Any] = {"name": name} if name else {}
    declared |= {"durable": durable, "exclusive": exclusive, "autoDelete": auto_delete}
    declared["vhost"] = VHOST
    return amqp(
        {
            "is": "queue",
            "queue": declared,
            "x-queue-arguments": arguments,
            "x-queue-bindings": bindings,
        }
    )


def shared_queue(
    name: str, *, arguments: dict[str, Any], bindings: list[dict[str, str]]
) -> dict[str, Any]:
    """A durable queue that outlives its consumers (services, the dead letters)."""
    return queue(
        name,
        durable=True,
        exclusive=False,
        auto_delete=False,
        arguments=arguments,
        bindings=bindings,
    )


def bound(exchange: str, routing_key: str) -> dict[str, str]:
    """One binding of a queue (or an exchange) to an exchange, for `x-*-bindings`."""
    return {"exchange": exchange, "routingKey": routing_key}


def publish(*, mandatory: bool, persistent: bool = True) -> dict[str, Any]:
    """A send operation's binding. Control messages go without a delivery mode (transient):
    a service repeats its announcement every interval, so an old one is worth nothing."""
    fields: dict[str, Any] = {"deliveryMode": DELIVERY_PERSISTENT} if persistent else {}
    fields["mandatory"] = mandatory
    return amqp(fields)


def consume(*, ack: bool) -> dict[str, Any]:
    """A receive operation's binding: whether the consumer acks (after handling)."""
    return amqp({"ack": ack})


def message_type(amqp_type: str) -> dict[str, Any]:
    """A message's binding: the AMQP `type` property it is published with."""
    return amqp({"messageType": amqp_type})
