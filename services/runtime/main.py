"""The composition root shared by consumer services: settings -> service -> serve."""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any

from services.runtime import lifecycle
from services.runtime.app import serve
from services.runtime.lifecycle import setup_logging, stop_on_signals
from services.runtime.service import ConsumerService
from services.runtime.settings import Settings, SettingsError

log = logging.getLogger(__name__)

# `build(settings)`: its settings are of the type its first parameter is annotated with.
Builder = Callable[[Any], ConsumerService]


def load_builder(name: str) -> Builder:
    """`sales` -> `services.sales.service:build`; `package.module:build` names any other."""
    module_name, _, attr = name.partition(":")
    if not attr:
        module_name, attr = f"services.{name}.service", "build"
    build: Builder = getattr(importlib.import_module(module_name), attr)
    return build


def settings_type(build: Builder) -> type[Settings]:
    """The settings `build` asks for: the Settings subclass its first parameter is annotated
    with (a service with settings of its own subclasses Settings), else Settings."""
    first = next(iter(inspect.signature(build).parameters.values()), None)
    if first is None:
        return Settings
    try:
        hint = typing.get_type_hints(build).get(first.name)
    except NameError as error:  # say, a type imported under `if TYPE_CHECKING:` only
        what = f"{build.__qualname__}: its settings type does not resolve ({error})"
        raise TypeError(what) from None
    return hint if isinstance(hint, type) and issubclass(hint, Settings) else Settings


def build_service(build: Builder, env: Mapping[str, str] | None = None) -> ConsumerService:
    """The service `build` makes, given the settings it asks for, read from `env` (default:
    the process's environment)."""
    return build(settings_type(build).from_env(env))


async def run(build: Builder, settings: Settings) -> None:
    service = build(settings)
    stop = stop_on_signals()
    await serve(service, settings, stop)


def main(name: str) -> int:
    build = load_builder(name)
    try:
        settings = settings_type(build).from_env()
    except SettingsError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    setup_logging(settings.log_level)
    lifecycle.run(run(build, settings))
    return 0
