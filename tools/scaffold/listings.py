"""Where a new service is listed: the base kustomization's resources and compose.yaml's
services. Each is edited as text, so every other line (and comment) stays as it is, then
parsed again to check that the edit added the service and nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.scaffold.names import TEMPLATE_SERVICE, ScaffoldError, check_renamed, rename

# ------------------------------------------------------------------ kustomization.yaml

_RESOURCES = re.compile(r"resources:\s*(#.*)?")
_ITEM = re.compile(r"(\s*)-\s+(\S+)")


def _resource_items(lines: list[str]) -> tuple[int, list[int]]:
    """The line of `resources:` and the lines of its list items."""
    start = next((i for i, line in enumerate(lines) if _RESOURCES.fullmatch(line.rstrip())), None)
    if start is None:
        raise ScaffoldError("deploy/k8s/base/kustomization.yaml has no `resources:` list")
    items = []
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if _ITEM.match(lines[i]):
            items.append(i)
        elif stripped and not stripped.startswith("#"):
            break  # the next key
    return start, items


def listed_resource(text: str, entry: str) -> bool:
    lines = text.splitlines(keepends=True)
    _, items = _resource_items(lines)
    return any(_item_value(lines[i]) == entry for i in items)


def _item_value(line: str) -> str:
    match = _ITEM.match(line)
    value = match.group(2) if match else ""
    return value.strip("'\"")


def add_resource(text: str, entry: str) -> str:
    """Append `entry` to the `resources:` list, leaving every other line as it is."""
    import yaml  # a development dependency, like this tool; the service image has none

    lines = text.splitlines(keepends=True)
    start, items = _resource_items(lines)
    if items:
        match = _ITEM.match(lines[items[-1]])
        indent = match.group(1) if match else "  "
        at = items[-1] + 1
    else:
        indent, at = "  ", start + 1
    if at > 0 and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    lines.insert(at, f"{indent}- {entry}\n")
    new = "".join(lines)
    before, after = yaml.safe_load(text), yaml.safe_load(new)
    if after.pop("resources") != [*before.pop("resources"), entry] or after != before:
        raise ScaffoldError("adding to deploy/k8s/base/kustomization.yaml went wrong")
    return new


# ------------------------------------------------------------------------ compose.yaml

_SERVICES = re.compile(r"services:\s*(#.*)?")
_ENTRY = re.compile(r"(\s+)([A-Za-z0-9_.-]+):\s*(#.*)?")


@dataclass(frozen=True)
class ComposeEntries:
    """The services of compose.yaml: name -> (first line, line after its last)."""

    spans: dict[str, tuple[int, int]]

    @property
    def names(self) -> set[str]:
        return set(self.spans)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def compose_entries(text: str) -> ComposeEntries:
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _SERVICES.fullmatch(line.rstrip())), None)
    if start is None:
        raise ScaffoldError("compose.yaml has no top-level `services:`")
    spans: dict[str, tuple[int, int]] = {}
    indent: int | None = None  # of the service names
    current: tuple[str, int] | None = None  # name, first line
    last = start  # the last line of content seen
    for i in range(start + 1, len(lines) + 1):
        line = lines[i] if i < len(lines) else "end:\n"
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # a comment before a service belongs to it, not to the one above
        if indent is not None and _indent(line) > indent:
            last = i
            continue
        if current:  # a line at or left of the names' indent ends the service
            spans[current[0]] = (current[1], last + 1)
            current = None
        match = _ENTRY.fullmatch(line.rstrip())
        if _indent(line) == 0 or not match:
            break  # the next top-level key
        indent = indent if indent is not None else len(match.group(1))
        current, last = (match.group(2), i), i
    return ComposeEntries(spans)


def add_compose_service(text: str, name: str, *, after: set[str]) -> str:
    """Declare `name` as sales is declared, after the last consumer service of the file."""
    import yaml

    entries = compose_entries(text)
    if TEMPLATE_SERVICE not in entries.spans:
        raise ScaffoldError(f"compose.yaml has no {TEMPLATE_SERVICE} service to copy")
    lines = text.splitlines(keepends=True)
    first, end = entries.spans[TEMPLATE_SERVICE]
    block = rename("".join(lines[first:end]), name)
    check_renamed(block, f"the compose service for {name}")
    consumers = [span for entry, span in entries.spans.items() if entry in after]
    at = max(span[1] for span in consumers) if consumers else end
    new = "".join([*lines[:at], "\n", block, *lines[at:]])
    before, result = yaml.safe_load(text), yaml.safe_load(new)
    added = result["services"].pop(name, None)
    if result != before or not added or added.get("command") != ["run", name]:
        raise ScaffoldError(f"adding the {name} service to compose.yaml went wrong")
    return new
