"""Shared fixtures. Broker tests get a private vhost on the real RabbitMQ and remove it after."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

BASE_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _rabbitmqctl(*args: str) -> None:
    result = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """An AMQP URL to a fresh vhost: every name a test declares disappears with it."""
    vhost = f"dtmf-test-{uuid.uuid4().hex[:12]}"
    parts = urlsplit(BASE_URL)
    user = parts.username or "guest"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))
    finally:
        _rabbitmqctl("delete_vhost", vhost)
