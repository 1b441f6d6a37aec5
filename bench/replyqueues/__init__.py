"""`python -m bench.replyqueues`: the edge's reply-queue designs measured on the real broker.

Issue 13 asks for the reply queue to be chosen by measurement. Each design is run as rounds
of "call starts", each what an edge (job) process does when a call begins: a new robust AMQP
connection, a channel, the reply queue's declare, its binding on `dtmf.replies` and
basic.consume. A round starts N calls in waves (all live together), holds them, tears them
down and waits until the broker has cleaned up after them, reading the broker's CPU
(utime+stime of its beam.smp in /proc) and memory (RSS and `rabbitmqctl status`) around
each step. A restart phase then asks, per design, what a broker restart keeps, and a cluster
phase what a node loss keeps and whether a call can start with 2 of 3 nodes down.

Designs (`designs()`):
- ref:       connection + channel only, the floor every design pays (no reply queue);
- quorum:    (a) today: a durable quorum queue per call with x-expires;
- classic:   (b) a durable classic queue per call with x-expires;
- exclusive: (b') a classic, non-durable, exclusive queue per call, which aio-pika's robust
             channel redeclares on reconnect;
- pod:       (c) one durable quorum queue per pod (a wave), shared by its calls: per call only
             the binding, since the relay that would hand replies to job processes is not
             built (the connection stays: a job process publishes its events on it).

Modules: designs (the designs), calls (a call start and its end), nodes (the brokers: a
private node or vhost, the node under measurement), measure (a round: call starts, broker
CPU and memory), restart and cluster (the fault phases), run (the phases in order), report
(the tables), cli (options and main).
"""
