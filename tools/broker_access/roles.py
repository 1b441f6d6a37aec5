"""The roles of this project's processes, read from the consumer services' own descriptions,
so a service's permissions follow its bindings when they change."""

from __future__ import annotations

import os
from pathlib import Path

from services.runtime.main import build_service, load_builder
from services.runtime.service import ConsumerService
from tools.broker_access.permissions import Grant, ServiceShape, role_grants

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"


def service_shape(service: ConsumerService) -> ServiceShape:
    """What the runtime (services/runtime/app.py, amqp/control.py) does on the broker for it.

    Interactive services answer callers; the others (the call log) only record, and get
    no write on dtmf.replies: a non-interactive service that replies is refused."""
    return ServiceShape(
        name=service.name,
        bindings=tuple((b.exchange, b.routing_key) for b in service.queue_bindings),
        replies=service.interactive,
        announces=bool(service.served_keys or service.served_inputs),
        listens=service.directory is not None,
    )


def project_services_by_module() -> dict[str, ConsumerService]:
    """Every services/<name>/service.py exporting build(settings), as deployed, by <name>
    (what `dtmf-bus run <name>` takes)."""
    found = {}
    for module in sorted(SERVICES_DIR.glob("*/service.py")):
        name = module.parent.name
        try:
            build = load_builder(name)
        except AttributeError:  # services/runtime/service.py describes services, is none
            continue
        # Its own settings' defaults, with a call log that writes nowhere.
        found[name] = build_service(build, {"DTMF_CALLLOG_PATH": os.devnull})
    return found


def project_services() -> list[ConsumerService]:
    return list(project_services_by_module().values())


def project_grants() -> list[Grant]:
    return role_grants([service_shape(s) for s in project_services()])
