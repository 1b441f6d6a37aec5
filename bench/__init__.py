"""dtmf-bus benchmark (issue #7): how fast a caller hears back, how many calls one machine carries.

`python -m bench --help`. Everything runs on this machine against the local RabbitMQ, in a
private vhost that is deleted at the end: the real consumer services as their own processes
(as `dtmf-bus demo` starts them), load generators driving the edge's real code path
(`running_edge` + `Edge.start_call/press` and the press handle's `reply`), and a lean
aio-pika baseline.
"""
