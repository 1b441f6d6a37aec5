"""The benchmark's private vhost on the local RabbitMQ, and checks that traffic stays local."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class BrokerError(RuntimeError):
    pass


def _is_loopback(host: str) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_local(url: str) -> tuple[str, int]:
    """(host, port) of a broker on this machine; refuses any other address."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if not _is_loopback(host):
        raise BrokerError(
            f"AMQP_URL points at {host}: the benchmark only sends traffic to a broker on "
            "this machine (127.0.0.1)"
        )
    return host, parts.port or 5672


def reachable(host: str, port: int, *, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _rabbitmqctl() -> str:
    found = shutil.which("rabbitmqctl") or shutil.which("rabbitmqctl", path="/usr/sbin:/sbin")
    if found is None:
        raise BrokerError("rabbitmqctl not found: the benchmark needs a local RabbitMQ")
    return found


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [_rabbitmqctl(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise BrokerError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def broker_version() -> str | None:
    try:
        out = rabbitmqctl("version", timeout=30)
    except (BrokerError, subprocess.TimeoutExpired):
        return None
    return out.strip() or None


class PrivateVhost:
    """`with PrivateVhost(base_url) as url:` a fresh vhost, deleted (with all it holds) after."""

    def __init__(self, base_url: str, *, prefix: str = "dtmf-bench") -> None:
        self.base_url = base_url
        self.name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        parts = urlsplit(base_url)
        self._user = parts.username or "guest"
        self.url = urlunsplit(parts._replace(path="/" + quote(self.name, safe="")))

    def __enter__(self) -> str:
        rabbitmqctl("add_vhost", self.name)
        try:
            rabbitmqctl("set_permissions", "-p", self.name, self._user, ".*", ".*", ".*")
        except BaseException:
            self.delete()
            raise
        return self.url

    def delete(self) -> None:
        rabbitmqctl("delete_vhost", self.name)

    def __exit__(self, *exc: object) -> None:
        self.delete()
