"""Three private RabbitMQ nodes joined into one cluster, which a test may kill, stop and start.

Each node is a `PrivateBroker` (own node name, ports, mnesia and log directories). They share
an Erlang cookie without any setup: started as root, `rabbitmq-server` and `rabbitmqctl` drop
to the rabbitmq user through `su`, which sets HOME=/var/lib/rabbitmq, so every node and every
CLI call reads the same /var/lib/rabbitmq/.erlang.cookie.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tools.private_nodes.broker import PrivateBroker

log = logging.getLogger(__name__)

# What the RabbitMQ Cluster Operator puts in every node's rabbitmq.conf (deploy/k8s/base
# runs the operator's defaults): a node cut off from the majority pauses (closes its
# listeners) instead of serving a split brain; leaders spread over the nodes.
OPERATOR_DEFAULTS = (
    "cluster_partition_handling = pause_minority\nqueue_master_locator = min-masters\n"
)


class ClusterNode(PrivateBroker):
    def __init__(self) -> None:
        super().__init__()
        self.running = False
        conf = self.base / "rabbitmq.conf"
        conf.write_text(conf.read_text() + OPERATOR_DEFAULTS)

    def _env(self) -> dict[str, str]:
        # Erlang distribution on loopback too: these nodes never talk beyond this machine.
        loopback = "-kernel inet_dist_use_interface {127,0,0,1}"
        return {
            **super()._env(),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": loopback,
            "RABBITMQ_CTL_ERL_ARGS": loopback,
        }

    @property
    def pid_file(self) -> Path:
        return Path(self._env()["RABBITMQ_PID_FILE"])

    def ctl(self, *args: str, tool: str = "rabbitmqctl", timeout: float = 60) -> str:
        """Run a CLI tool against this node; raise with its stderr when it fails."""
        done = subprocess.run(
            [tool, "-n", self.node, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} on {self.node}: {done.stderr.strip()}")
        return done.stdout

    def start(self, *, timeout: int = 90) -> None:
        # A SIGKILLed node leaves its pid file behind; `rabbitmqctl wait` would read that
        # dead pid and give up at once.
        self.pid_file.unlink(missing_ok=True)
        super().start(timeout=timeout)
        self.running = True

    def stop(self) -> None:
        self.running = False
        super().stop()

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM (beam.smp) and return once it has exited."""
        pid = int(self.pid_file.read_text().strip())
        self.running = False
        # A pidfd becomes readable when the process exits, even as an unreaped zombie.
        fd = os.pidfd_open(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            if not select.select([fd], [], [], 30)[0]:
                raise RuntimeError(f"{self.node} (pid {pid}) still alive 30 s after SIGKILL")
        finally:
            os.close(fd)
        log.info("killed %s (pid %d)", self.node, pid)

    def remove(self) -> None:
        self.stop()
        self._kill_if_alive()
        shutil.rmtree(self.base, ignore_errors=True)

    def _kill_if_alive(self) -> None:
        """Last resort of cleanup: a node `rabbitmqctl stop` did not stop. The pid is checked
        to still be this node's VM, so a reused pid is never hit."""
        try:
            pid = int(self.pid_file.read_text().strip())
            if self.node.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass  # no pid file, or the process is gone already


class PrivateCluster:
    def __init__(self, size: int = 3) -> None:
        self.nodes = [ClusterNode() for _ in range(size)]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def by_name(self, name: str) -> ClusterNode:
        return next(node for node in self.nodes if node.node == name)

    def any_running(self) -> ClusterNode:
        return next(node for node in self.nodes if node.running)

    def _each(self, nodes: list[ClusterNode], action: str) -> list[float]:
        """Run start/stop on several nodes at once (a node's boot waits for its peers);
        returns when each finished, as time.monotonic()."""

        def run(node: ClusterNode) -> float:
            getattr(node, action)()
            return time.monotonic()

        with ThreadPoolExecutor(len(nodes)) as pool:
            return list(pool.map(run, nodes))

    def form(self) -> None:
        """Start every node, then join the others to the first."""
        self._each(self.nodes, "start")
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node)
            node.ctl("start_app")
        log.info("cluster formed: %s", ", ".join(self.running_nodes()))

    def running_nodes(self) -> list[str]:
        status = json.loads(self.any_running().ctl("cluster_status", "--formatter", "json"))
        return sorted(status["running_nodes"])

    def start(self, *nodes: ClusterNode) -> list[float]:
        return self._each(list(nodes), "start")

    def stop(self, *nodes: ClusterNode) -> list[float]:
        return self._each(list(nodes), "stop")

    def kill(self, node: ClusterNode) -> None:
        node.kill()

    def add_vhost(self, vhost: str, user: str = "guest") -> None:
        node = self.any_running()
        node.ctl("add_vhost", vhost)
        node.ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")

    def queues(self, vhost: str) -> dict[str, dict[str, Any]]:
        """name -> {type, leader, members} as the cluster sees them now."""
        out = self.any_running().ctl(
            "list_queues", "-p", vhost, "name", "type", "leader", "members", "--formatter", "json"
        )
        return {row["name"]: row for row in json.loads(out)}

    def connections(self, vhost: str) -> dict[str, list[str]]:
        """node name -> the names of the client connections it holds in this vhost."""
        out = self.any_running().ctl(
            "list_connections", "-p", vhost, "name", "client_properties", "--formatter", "json"
        )
        by_port = {node.port: node.node for node in self.nodes}
        held: dict[str, list[str]] = {node.node: [] for node in self.nodes}
        for row in json.loads(out):
            # "name" is "client address:port -> node address:port"
            port = int(row["name"].rsplit(":", 1)[1])
            props = {key: value for key, _, value in row["client_properties"]}
            held[by_port[port]].append(str(props.get("connection_name", row["name"])))
        return held

    def raft_names(self, vhost: str, queues: list[str]) -> dict[str, str]:
        """Each quorum queue's Raft cluster name (taken while the cluster is whole)."""
        names = ", ".join(f'<<"{name}">>' for name in queues)
        program = f"""
            [{{N, element(1, amqqueue:get_pid(Q))}}
             || N <- [{names}],
                {{ok, Q}} <- [rabbit_amqqueue:lookup(rabbit_misc:r(<<"{vhost}">>, queue, N))]].
        """
        out = self.any_running().ctl("eval", " ".join(program.split()))
        return dict(re.findall(r'\{<<"([^"]+)">>,\s*\'?([^\'}]+)\'?\}', out))

    def served_again(
        self, node: ClusterNode, raft: dict[str, str], *, within_s: float
    ) -> dict[str, float]:
        """Watch, from inside `node`, when each quorum queue (queue -> Raft name) is served
        again: the first Raft consistent query that succeeds after one failed, i.e. a leader
        a majority follows again. Start it once the fault is on (in a thread: it blocks up to
        `within_s`). Returns queue -> time.monotonic(); queues never back are left out."""
        pairs = ", ".join(f"{{<<\"{queue}\">>, '{name}'}}" for queue, name in raft.items())
        # Erlang, run by `rabbitmqctl eval`: one poller per queue, each asking every 20 ms
        # with a 100 ms bound, so a queue's answer is not held up behind another's. Every
        # failure (no leader, no quorum, the app paused, the member restarting) is "not served".
        program = f"""
            Self = self(),
            End = erlang:monotonic_time(millisecond) + {int(within_s * 1000)},
            Served = fun(R) ->
                try ra:consistent_query({{R, node()}}, fun(_) -> ok end, 100) of
                    {{ok, ok, _}} -> true; _ -> false
                catch _:_ -> false end end,
            Poll = fun Poll(N, R, Failed) ->
                case {{erlang:monotonic_time(millisecond) > End, Served(R), Failed}} of
                    {{true, _, _}} -> Self ! {{N, none}};
                    {{_, true, true}} -> Self ! {{N, erlang:system_time(millisecond)}};
                    {{_, Ok, _}} -> timer:sleep(20), Poll(N, R, Failed orelse not Ok)
                end end,
            Pairs = [{pairs}],
            [spawn(fun() -> Poll(N, R, false) end) || {{N, R}} <- Pairs],
            [receive {{N, T}} -> {{N, T}} end || {{N, _}} <- Pairs].
        """
        out = node.ctl("eval", " ".join(program.split()), timeout=within_s + 30)
        offset = time.time() - time.monotonic()
        return {
            name: int(ms) / 1000 - offset
            for name, ms in re.findall(r'\{<<"([^"]+)">>,(\d+)\}', out)
        }

    def leader_of(self, queue: str, vhost: str) -> ClusterNode:
        leader = self.queues(vhost)[queue]["leader"]
        return self.by_name(str(leader))

    def remove(self) -> None:
        """Stop every node and remove its directories, whatever state the test left."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(ClusterNode.remove, self.nodes))
