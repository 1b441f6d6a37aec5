"""python -m tools.broker_access: broker users per role.

dev-users   create (or re-create, with new passwords) one user per role on a local broker
            with rabbitmqctl, and write each role's AMQP URL to an env file (mode 0600)
topology    declare the shared topology (exchanges, dtmf.dead, bindings) that the roles may
            use but not declare, with an administrator's AMQP_URL; run it before starting
            processes as role users (`make broker-users` runs it first)
manifests   write deploy/k8s/base/broker-users.yaml and broker-topology.yaml; --check fails
            when one is stale
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from services.runtime.settings import Settings
from tools.broker_access import manifests
from tools.broker_access.rabbitmqctl import ensure_users
from tools.broker_access.roles import project_grants
from tools.broker_access.topology import NotAnAdministrator, declare_shared_topology, describe

DEFAULT_BASE_URL = "amqp://127.0.0.1:5672/"
DEFAULT_ENV_FILE = Path("var/broker-users.env")


def _env_name(role: str) -> str:
    return "AMQP_URL_" + role.upper().replace("-", "_")


def _url(base_url: str, user: str, password: str, *, vhost: str) -> str:
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(user)}:{quote(password)}@{parts.hostname}{port}"
    path = "/" if vhost == "/" else "/" + quote(vhost, safe="")
    return urlunsplit(parts._replace(netloc=netloc, path=path))


def dev_users(args: argparse.Namespace) -> int:
    grants = {manifests.user_object(g.role): g for g in project_grants()}
    users = ensure_users(grants, vhost=args.vhost, node=args.node)
    lines = [
        f"{_env_name(u.grant.role)}={_url(args.base_url, u.name, u.password, vhost=args.vhost)}"
        for u in users
    ]
    path: Path = args.env_file
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    print(f"{len(users)} users in vhost {args.vhost}; their AMQP URLs are in {path}")
    return 0


def topology(args: argparse.Namespace) -> int:
    url = args.url or Settings.from_env().amqp_url
    try:
        declared = asyncio.run(declare_shared_topology(url))
    except NotAnAdministrator as error:
        print(error, file=sys.stderr)
        return 1
    print(f"shared topology declared: {describe(declared)}")
    return 0


def write_manifests(args: argparse.Namespace) -> int:
    stale = []
    for path, text in manifests.generated(project_grants()).items():
        if not args.check:
            path.write_text(text)
        elif path.read_text() != text:
            stale.append(path)
    for path in stale:
        print(f"{path} is stale: run python -m tools.broker_access manifests")
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.broker_access", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev-users", help="one user per role on a local broker")
    dev.add_argument("--vhost", default="/")
    dev.add_argument("--node", default=None, help="rabbitmqctl -n (default: the local node)")
    dev.add_argument("--base-url", default=DEFAULT_BASE_URL, help="scheme, host, port and query")
    dev.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE)
    dev.set_defaults(run=dev_users)
    admin = commands.add_parser("topology", help="the shared topology, as an administrator")
    admin.add_argument("--url", default=None, help="an administrator's URL (default: AMQP_URL)")
    admin.set_defaults(run=topology)
    k8s = commands.add_parser("manifests", help="broker-users.yaml and broker-topology.yaml")
    k8s.add_argument("--check", action="store_true")
    k8s.set_defaults(run=write_manifests)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
