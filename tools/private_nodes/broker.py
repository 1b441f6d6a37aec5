"""A RabbitMQ node of the test's own, so a test can stop and start the broker process
without disturbing the machine's broker or other tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.private_nodes.tls import TlsFiles


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateBroker:
    def __init__(self, *, tls: TlsFiles | None = None, plugins: Sequence[str] = ()) -> None:
        """`tls`: also listen for amqps:// on `tls_port`, with this certificate and key.
        `plugins`: enable these (none by default); with `rabbitmq_prometheus` the node serves
        its metrics on `prometheus_port`, a free port of its own (never the shared 15692)."""
        self.node = f"dtmftest{uuid.uuid4().hex[:8]}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        self.tls_port = _free_port() if tls else None
        self.plugins = tuple(plugins)
        self.prometheus_port = _free_port() if "rabbitmq_prometheus" in self.plugins else None
        self.base = Path(tempfile.mkdtemp(prefix="dtmf-broker-"))
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
            + (self._tls_config(tls) if tls else "")
            + (self._prometheus_config() if self.prometheus_port else "")
        )
        # An Erlang term: the list of plugins to start (their dependencies come along).
        (self.base / "enabled_plugins").write_text(f"[{','.join(self.plugins)}].\n")
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir()
        # rabbitmq-server drops to the rabbitmq user when started as root.
        shutil.chown(self.base, "rabbitmq", "rabbitmq")
        for path in self.base.iterdir():
            shutil.chown(path, "rabbitmq", "rabbitmq")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def tls_url(self, host: str = "localhost") -> str:
        """amqps:// to the TLS listener by `host` (the certificate names the hosts it is for)."""
        assert self.tls_port is not None, "started without tls="
        return f"amqps://guest:guest@{host}:{self.tls_port}/"

    def _tls_config(self, tls: TlsFiles) -> str:
        # Copies the node owns: rabbitmq-server reads them as the rabbitmq user.
        for source in (tls.ca, tls.cert, tls.key):
            shutil.copy(source, self.base / f"tls-{source.name}")
        return (
            f"listeners.ssl.local = 127.0.0.1:{self.tls_port}\n"
            f"ssl_options.cacertfile = {self.base / f'tls-{tls.ca.name}'}\n"
            f"ssl_options.certfile = {self.base / f'tls-{tls.cert.name}'}\n"
            f"ssl_options.keyfile = {self.base / f'tls-{tls.key.name}'}\n"
            # Clients authenticate with a password, not a certificate.
            "ssl_options.verify = verify_none\n"
            "ssl_options.fail_if_no_peer_cert = false\n"
        )

    @property
    def prometheus_target(self) -> str:
        """host:port of the node's rabbitmq_prometheus endpoint."""
        assert self.prometheus_port is not None, "started without rabbitmq_prometheus"
        return f"127.0.0.1:{self.prometheus_port}"

    def _prometheus_config(self) -> str:
        return f"prometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = {self.prometheus_port}\n"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_PID_FILE": str(self.base / "mnesia" / "node.pid"),
        }

    def start(self, *, timeout: int = 60) -> None:
        env = self._env()
        subprocess.run(
            ["rabbitmq-server", "-detached"], env=env, check=True, capture_output=True, timeout=30
        )
        # `rabbitmqctl wait` blocks until the node has written its pid file and booted.
        waited = subprocess.run(
            [
                "rabbitmqctl",
                "-n",
                self.node,
                "wait",
                "--timeout",
                str(timeout),
                env["RABBITMQ_PID_FILE"],
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout + 10,
            check=False,
        )
        if waited.returncode != 0 or not self._answers():
            raise RuntimeError(
                f"private broker {self.node} did not start: {waited.stderr.strip()}; "
                + (
                    f"with plugins {list(self.plugins)} (are they installed?); "
                    if self.plugins
                    else ""
                )
                + f"logs in {self.base}/log"
            )
        if self.prometheus_port is not None and not self._answers(self.prometheus_port):
            raise RuntimeError(
                f"private broker {self.node} serves no metrics on {self.prometheus_target}: "
                f"is the rabbitmq_prometheus plugin installed? logs in {self.base}/log"
            )

    def stop(self) -> None:
        subprocess.run(
            ["rabbitmqctl", "-n", self.node, "stop"],
            env=self._env(),
            capture_output=True,
            timeout=60,
            check=False,
        )

    def _answers(self, port: int | None = None) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port or self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
