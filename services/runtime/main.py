"""The composition root shared by consumer services: settings -> service -> serve."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable

from services.runtime import lifecycle
from services.runtime.app import serve
from services.runtime.lifecycle import setup_logging, stop_on_signals
from services.runtime.service import ConsumerService
from services.runtime.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def load_builder(name: str) -> Callable[[Settings], ConsumerService]:
    """`sales` -> `services.sales.service:build`; `package.module:build` names any other."""
    module_name, _, attr = name.partition(":")
    if not attr:
        module_name, attr = f"services.{name}.service", "build"
    build: Callable[[Settings], ConsumerService] = getattr(
        importlib.import_module(module_name), attr
    )
    return build


async def run(name: str, settings: Settings) -> None:
    service = load_builder(name)(settings)
    stop = stop_on_signals()
    await serve(service, settings, stop)


def main(name: str) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    setup_logging(settings.log_level)
    lifecycle.run(run(name, settings))
    return 0
