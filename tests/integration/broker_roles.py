"""Broker users of each role (tools/broker_access), made for one test and deleted after it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from tools.broker_access.permissions import Grant
from tools.broker_access.rabbitmqctl import delete_users, ensure_users


def url_as(base_url: str, user: str, password: str) -> str:
    """base_url (its scheme, host, port, vhost and query) with another user's credentials."""
    parts = urlsplit(base_url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def role_urls(
    base_url: str, grants: Sequence[Grant], *, node: str | None = None
) -> Iterator[dict[str, str]]:
    """role -> an AMQP URL of a new user holding that role's grant in base_url's vhost."""
    vhost = unquote(urlsplit(base_url).path.removeprefix("/")) or "/"
    prefix = f"dtmf-test-{uuid.uuid4().hex[:8]}"
    named = {f"{prefix}-{grant.role}": grant for grant in grants}
    try:
        users = ensure_users(named, vhost=vhost, node=node)
        yield {u.grant.role: url_as(base_url, u.name, u.password) for u in users}
    finally:
        delete_users(list(named), node=node, missing_ok=True)
