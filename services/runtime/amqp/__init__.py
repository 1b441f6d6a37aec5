"""The kit's adapter to RabbitMQ through aio-pika, the only part of services.runtime that
imports the AMQP client (an import-linter contract keeps it so): the connection, its link
state and its reconnect logs (broker, reconnect_logs), the topology every service declares
or checks (topology), the codec between the contracts' models and AMQP messages (codec), the
runner that validates, dispatches and settles each delivery (runner) with its ack batching
(acks), the replies sent back (replies) and the control announcements between services
(control). The rest of services.runtime is the pure kit and the services' composition root
(app), which uses this adapter."""
