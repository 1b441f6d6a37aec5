"""The import layers a new service joins (pyproject.toml's import-linter contracts, checked
by `make lint`): independent of every other consumer service and of the edge, and its
handler in the pure core. Edited as text, like the other listings, so every other line
stays as it is, then parsed again to check that the edit added the service and nothing else."""

from __future__ import annotations

import tomllib
from typing import Any

from tools.scaffold.names import ScaffoldError

INDEPENDENCE = "consumer services are independent of each other and of the edge"
PURE_CORE = "the pure core (and the handlers) import no AMQP client and no VideoSDK"


def memberships(name: str) -> tuple[tuple[str, str, str], ...]:
    """(contract, list, module) for each contract the service `name` joins."""
    return (
        (INDEPENDENCE, "modules", f"services.{name}"),
        (PURE_CORE, "source_modules", f"services.{name}.service"),
    )


def listed_in_layers(text: str, name: str) -> bool:
    contracts = _contracts(tomllib.loads(text))
    return all(module in contracts[c][key] for c, key, module in memberships(name))


def add_to_layers(text: str, name: str) -> str:
    """Append the service's modules to the contracts' lists, leaving every other line."""
    new = text
    for contract, key, module in memberships(name):
        new = _append(new, contract, key, module)
    before, after = _contracts(tomllib.loads(text)), _contracts(tomllib.loads(new))
    for contract, key, module in memberships(name):
        if after[contract][key] != [*before[contract][key], module]:
            raise ScaffoldError(f"pyproject.toml: could not add {module} to {contract!r}")
    return new


def _contracts(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    contracts = config.get("tool", {}).get("importlinter", {}).get("contracts", [])
    found = {c.get("name"): c for c in contracts}
    for contract in (INDEPENDENCE, PURE_CORE):
        if contract not in found:
            raise ScaffoldError(f"pyproject.toml has no import-linter contract {contract!r}")
    return found


def _append(text: str, contract: str, key: str, module: str) -> str:
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f'name = "{contract}"')
    opening = next(i for i in range(start, len(lines)) if lines[i].startswith(f"{key} = ["))
    closing = next(i for i in range(opening, len(lines)) if lines[i].strip() == "]")
    if any(line.strip() == f'"{module}",' for line in lines[opening:closing]):
        return text
    lines.insert(closing, f'    "{module}",\n')
    return "".join(lines)
