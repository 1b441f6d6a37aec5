"""Users with their role's permissions on a broker, through rabbitmqctl (development and
tests; Kubernetes uses the Messaging Topology Operator, see manifests.py).

Users, permissions and topic permissions go in with one `import_definitions` (each
rabbitmqctl call starts an Erlang VM: most of a second), passwords as salted hashes only:
no password is ever on a command line."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tools.broker_access.permissions import Grant

log = logging.getLogger(__name__)

CTL_TIMEOUT_S = 60
HASHING = "rabbit_password_hashing_sha256"


class RabbitmqctlError(RuntimeError):
    """rabbitmqctl refused or failed."""


@dataclass(frozen=True)
class BrokerUser:
    name: str
    password: str
    grant: Grant


def _ctl(args: Sequence[str], *, node: str | None, stdin: str | None = None) -> str:
    command = ["rabbitmqctl", *(["-n", node] if node else []), *args]
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=CTL_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise RabbitmqctlError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


def new_password() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: it goes into AMQP_URL as it is


def password_hash(password: str) -> str:
    """RabbitMQ's salted SHA-256 (rabbit_password_hashing_sha256): base64(salt + digest)."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(users: Sequence[BrokerUser], *, vhost: str) -> dict[str, Any]:
    """What `rabbitmqctl import_definitions` reads for these users in `vhost`."""
    return {
        "users": [
            {
                "name": u.name,
                "password_hash": password_hash(u.password),
                "hashing_algorithm": HASHING,
                "tags": list(u.grant.tags),
                "limits": {},
            }
            for u in users
        ],
        "permissions": [
            {
                "user": u.name,
                "vhost": vhost,
                "configure": u.grant.configure,
                "write": u.grant.write,
                "read": u.grant.read,
            }
            for u in users
        ],
        "topic_permissions": [
            {
                "user": u.name,
                "vhost": vhost,
                "exchange": topic.exchange,
                "write": topic.write,
                "read": topic.read,
            }
            for u in users
            for topic in u.grant.topics
        ],
    }


def ensure_users(
    grants: dict[str, Grant], *, vhost: str, node: str | None = None
) -> list[BrokerUser]:
    """Create each user name -> grant in `vhost`, with a new password (existing users get a
    new one: that is how a password is rotated) and exactly the grant's permissions."""
    listed = _ctl(["list_users", "--quiet", "--no-table-headers"], node=node)
    existing = {line.split("\t")[0] for line in listed.splitlines()} & set(grants)
    for name in sorted(existing):  # an import adds topic permissions, never removes one
        _ctl(["clear_topic_permissions", "-p", vhost, name], node=node)
    users = [BrokerUser(name, new_password(), grant) for name, grant in grants.items()]
    _ctl(["import_definitions"], node=node, stdin=json.dumps(definitions(users, vhost=vhost)))
    for user in users:
        log.info("broker user %s: role %s in vhost %s", user.name, user.grant.role, vhost)
    return users


def delete_users(
    names: Sequence[str], *, node: str | None = None, missing_ok: bool = False
) -> None:
    for name in names:
        try:
            _ctl(["delete_user", name], node=node)
        except RabbitmqctlError as error:
            if not (missing_ok and "does not exist" in str(error)):
                raise
