"""The peer: dtmf-bus's design written the idiomatic FastStream way (issue 18, target 4).

What a user who does not pick dtmf-bus writes: FastStream apps (`RabbitBroker`,
`@broker.subscriber`, `broker.publisher`, pydantic models for the messages), each service a
process of its own run by FastStream's own CLI (`faststream run ... --factory`), on the same
topology as the system: the topic events exchange, the routes exchange bound to it with its
alternate exchange (a fanout for the keys nobody serves), the direct replies exchange, the
dead-letter exchange and queue, quorum service queues with the system's own arguments,
persistent messages, publisher confirms, acks after handling.

- bench.faststream.topology: the exchanges, queues and the broker every process builds;
- bench.faststream.services: the apps: sales (key 1), support (2), the menu (unrouted keys),
  the call log (everything, one JSON line per event);
- bench.faststream.edge: the edge's side as a load worker (bench.worker's line protocol): C
  calls pressing keys and waiting for each reply on the edge's own reply queue;
- bench.faststream.phase: the `faststream` phase's processes, in a vhost of their own;
- bench.faststream.compare: the system against the floor and this peer, and target 4.

Only `compare` may be imported without FastStream installed (it is a bench dev dependency).
"""
