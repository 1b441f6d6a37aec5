"""The brokers the bench runs on: the node under measurement as seen from this machine, a
private node of our own, a private vhost on a node."""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika

from bench.broker import BrokerError, rabbitmqctl
from bench.procstat import cpu_seconds, find_broker_pid, rss_bytes
from contracts import topology as t

log = logging.getLogger("bench.replyqueues")

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # the script su would run
RABBITMQ_HOME = "/var/lib/rabbitmq"  # its .erlang.cookie is the one rabbitmqctl reads


class BrokerView:
    """The broker node under measurement, as seen from this machine."""

    def __init__(self, pid: int, ctl: Callable[..., str], vhost: str) -> None:
        self.pid = pid
        self._ctl = ctl
        self.vhost = vhost

    def cpu_s(self) -> float:
        return cpu_seconds(self.pid) or 0.0

    def rss(self) -> int:
        return rss_bytes(self.pid) or 0

    def fds(self) -> int:
        """Files the node's process has open (the kernel's count)."""
        try:
            return sum(1 for _ in Path(f"/proc/{self.pid}/fd").iterdir())
        except OSError:
            return 0

    def status(self) -> dict[str, int]:
        """`rabbitmqctl status` in bytes: Erlang's memory categories, the `erlang` and `rss`
        totals; and the file handles RabbitMQ counts against the limit it enforces (taken
        from the open files limit at boot), which can run out before the OS's do."""
        status = json.loads(self._ctl("-q", "status", "--formatter", "json"))
        mem = status["memory"]
        flat = {k: int(v) for k, v in mem.items() if isinstance(v, int)}
        flat["erlang"] = int(mem["total"]["erlang"])
        flat["rss"] = int(mem["total"]["rss"])
        handles = status["file_descriptors"]
        flat["handles_used"] = int(handles["total_used"])
        flat["handles_limit"] = int(handles["total_limit"])
        return flat

    def queue_names(self) -> list[str]:
        out = self._ctl("-q", "list_queues", "-p", self.vhost, "--no-table-headers", "name")
        return [line.strip() for line in out.splitlines() if line.strip()]


@dataclass
class Node:
    """A RabbitMQ node on this machine: its AMQP URL (root vhost) and `rabbitmqctl -n` name."""

    url: str
    port: int
    name: str | None = None  # None: the machine's default node

    def ctl(self, *args: str, timeout: float = 60) -> str:
        node = ("-n", self.name) if self.name else ()
        return rabbitmqctl(*node, *args, timeout=timeout)

    def view(self, vhost: str) -> BrokerView:
        pid = find_broker_pid(self.port)
        if pid is None:
            raise BrokerError(f"no beam.smp process listening on port {self.port}")
        return BrokerView(pid, self.ctl, vhost)


@contextlib.contextmanager
def private_vhost(node: Node) -> Iterator[tuple[str, str]]:
    """(AMQP URL, name) of a fresh vhost on `node`, deleted with all it holds afterwards."""
    name = f"dtmf-bench-rq-{uuid.uuid4().hex[:10]}"
    parts = urlsplit(node.url)
    node.ctl("add_vhost", name)
    try:
        node.ctl("set_permissions", "-p", name, parts.username or "guest", ".*", ".*", ".*")
        yield urlunsplit(parts._replace(path="/" + quote(name, safe=""))), name
    finally:
        node.ctl("delete_vhost", name)


@contextlib.contextmanager
def private_node(nofile: int) -> Iterator[tuple[Node, Any]]:
    """A RabbitMQ node of our own (tools.private_nodes.broker), removed afterwards."""
    from tools.private_nodes.broker import PrivateBroker

    class RoomyBroker(PrivateBroker):
        """Started as the rabbitmq user directly, not through `su`: su's PAM session resets
        the open files limit to 1,024, which ~300 quorum queues (3 files each) exhaust, and a
        node out of files stops accepting connections."""

        def start(self, *, timeout: int = 60) -> None:
            if not nofile:
                super().start(timeout=timeout)
                return
            env = {**self._env(), "HOME": RABBITMQ_HOME}
            subprocess.run(
                [RABBITMQ_SERVER, "-detached"],
                env=env,
                cwd=RABBITMQ_HOME,
                user="rabbitmq",
                group="rabbitmq",
                extra_groups=[],
                preexec_fn=lambda: _open_files(nofile),
                check=True,
                capture_output=True,
                timeout=30,
            )
            pid_file = env["RABBITMQ_PID_FILE"]
            self_ctl = ["rabbitmqctl", "-n", self.node, "wait", "--timeout", str(timeout)]
            waited = subprocess.run(
                [*self_ctl, pid_file], env=env, capture_output=True, timeout=timeout + 10
            )
            if waited.returncode != 0 or not self._answers():
                raise BrokerError(f"private node {self.node} did not start: logs in {self.base}")

    broker = RoomyBroker()
    try:
        log.info("starting private node %s on port %d", broker.node, broker.port)
        broker.start()
        yield Node(broker.url, broker.port, broker.node), broker
    finally:
        broker.remove()


def _open_files(wanted: int) -> None:
    """In the child, before exec: as many open files as wanted, up to the hard limit (raising
    that needs a capability this machine does not give)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


async def declare_exchange(url: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(
            t.REPLIES_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
        )
