"""Scaffold a consumer service: `dtmf-bus new-consumer --name billing --keys 3`.

Writes the service (services/<name>/), a unit test that passes as generated
(tests/unit/test_<name>_service.py) and its deployment: deploy/k8s/base/<name>.yaml,
rendered from the sales service's manifests as they are now, listed in the base
kustomization, and a compose.yaml service declared like sales. A scaffolded service is
interactive, like sales: its queue has a single active consumer, so it runs as a fixed
pair (active + standby) with no autoscaler. Everything is rendered and checked before
anything is written: a bad name, a bad key or an existing service changes nothing.
"""

from __future__ import annotations

import argparse
import keyword
import logging
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from contracts.keys import InvalidKey, normalize_key
from contracts.topology import service_queue

log = logging.getLogger(__name__)

# The service whose deployment a new service copies, with its names replaced.
TEMPLATE_SERVICE = "sales"
# Names that are taken: the kit and tools under services/, the template, and compose
# services that are no consumer service.
RESERVED = frozenset(
    {"runtime", "edge", "templates", "cli", "demo", "deadletters", "retire", "scaffold"}
    | {TEMPLATE_SERVICE}
    | {"rabbitmq", "keypad"}
)
# A Python package name that is also a valid Kubernetes object name (RFC 1035 label):
# no underscores, which Kubernetes refuses in names, and no hyphens, which Python refuses.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*")
MAX_NAME_LENGTH = 32
# The objects every consumer service has (tests/unit/test_deploy.py checks them all).
MANIFEST_KINDS = ("Deployment", "Service", "PodDisruptionBudget")
# What an interactive service must not have: its queue delivers to one consumer at a time,
# so replicas beyond the standby would only wait.
SCALER_KINDS = ("ScaledObject", "HorizontalPodAutoscaler")
ACTIVE_AND_STANDBY = 2


class ScaffoldError(Exception):
    """The scaffold refused; the message says why. Nothing was written."""


@dataclass(frozen=True)
class Layout:
    """Where a service's files live in a checkout."""

    root: Path
    name: str

    @property
    def package(self) -> Path:
        return self.root / "services" / self.name

    @property
    def test(self) -> Path:
        return self.root / "tests" / "unit" / f"test_{self.name}_service.py"

    @property
    def base(self) -> Path:
        return self.root / "deploy" / "k8s" / "base"

    @property
    def manifest(self) -> Path:
        return self.base / f"{self.name}.yaml"

    @property
    def template_manifest(self) -> Path:
        return self.base / f"{TEMPLATE_SERVICE}.yaml"

    @property
    def kustomization(self) -> Path:
        return self.base / "kustomization.yaml"

    @property
    def compose(self) -> Path:
        return self.root / "compose.yaml"


# ------------------------------------------------------------------------ public API


def scaffold(*, root: Path, name: str, keys: Sequence[str], force: bool = False) -> list[Path]:
    """Create consumer service `name` bound to `keys` in the checkout at `root`.

    Returns the files written or changed. With `force`, the service's own files are
    overwritten; its kustomization and compose entries are added only if missing.
    """
    check_name(name)
    canonical = normalize_keys(keys)
    layout = Layout(root.resolve(), name)
    check_checkout(layout)
    check_taken(layout)
    check_conflicts(layout, force=force)
    plan = render(layout, canonical)
    for path, text in plan.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        log.info("scaffold %s: wrote %s", name, path)
    return [*plan, regenerate_broker_users(layout.root)]


def regenerate_broker_users(root: Path) -> Path:
    """The new service gets its broker user and permissions (generated from every service's
    bindings); run in `root`, so that checkout's services are the ones read."""
    subprocess.run([sys.executable, "-m", "tools.broker_access", "manifests"], cwd=root, check=True)
    return root / "deploy" / "k8s" / "base" / "broker-users.yaml"


def parse_keys(text: str) -> list[str]:
    """`3` or `*,#` (as given to --keys) -> the keys, not yet checked."""
    return [item.strip() for item in text.split(",")]


def normalize_keys(raw: Sequence[str]) -> tuple[str, ...]:
    """The canonical keys, in the order given; refuses bad, empty and repeated keys."""
    if isinstance(raw, str):  # "12" is keys 1 and 2 only when written 1,2
        raw = parse_keys(raw)
    if not raw:
        raise ScaffoldError("at least one key is needed, e.g. --keys 3")
    found: list[str] = []
    for item in raw:
        if not item.strip():
            raise ScaffoldError(f"empty key in {','.join(raw)!r}: give keys like 3 or 1,2")
        try:
            key = normalize_key(item)
        except InvalidKey as exc:
            hint = "quote * and # in a shell: --keys '*,#'"
            raise ScaffoldError(f"{exc} ({hint})") from None
        if key in found:
            raise ScaffoldError(f"key {key} is given twice")
        found.append(key)
    return tuple(found)


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid service name {name!r}: use a lower-case letter followed by lower-case "
            "letters and digits (it names a Python package and Kubernetes objects)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"service name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    if name in RESERVED or keyword.iskeyword(name):
        raise ScaffoldError(f"service name {name!r} is reserved: choose another")


def check_taken(layout: Layout) -> None:
    """Names used by something that is no consumer service, which --force must not replace."""
    name = layout.name
    if (layout.root / "services" / f"{name}.py").exists():
        raise ScaffoldError(f"service name {name!r} is taken by services/{name}.py")
    if layout.manifest.exists() and not layout.package.is_dir():
        where = layout.manifest.relative_to(layout.root)
        raise ScaffoldError(f"service name {name!r} is taken by {where}, which is no service")


def check_checkout(layout: Layout) -> None:
    needed = (layout.root / "services", layout.template_manifest, layout.kustomization)
    missing = [p for p in (*needed, layout.compose) if not p.exists()]
    if missing:
        raise ScaffoldError(
            f"{layout.root} is not a dtmf-bus checkout (no {missing[0].name}): "
            "run from the repository root or pass --root"
        )


def check_conflicts(layout: Layout, *, force: bool) -> None:
    """Refuse, unless forced, when any part of the service exists already."""
    if force:
        return
    root = layout.root
    found = [
        f"{path.relative_to(root)}"
        for path in (layout.package, layout.test, layout.manifest)
        if path.exists()
    ]
    if _listed_resource(layout.kustomization.read_text(), f"{layout.name}.yaml"):
        found.append(f"{layout.name}.yaml in {layout.kustomization.relative_to(root)}")
    if layout.name in _compose_entries(layout.compose.read_text()).names:
        found.append(f"service {layout.name} in compose.yaml")
    if found:
        raise ScaffoldError(
            f"service {layout.name!r} exists already ({', '.join(found)}): "
            "choose another name, or pass --force to write its files again"
        )


# -------------------------------------------------------------------------- rendering


def render(layout: Layout, keys: tuple[str, ...]) -> dict[Path, str]:
    """Every file to write, with its new content; the deployment edits are checked here."""
    name = layout.name
    values = template_values(name, keys)
    plan = {
        layout.package / "__init__.py": INIT_TEMPLATE.substitute(values),
        layout.package / "__main__.py": MAIN_TEMPLATE.substitute(values),
        layout.package / "service.py": SERVICE_TEMPLATE.substitute(values),
        layout.test: TEST_TEMPLATE.substitute(values),
        layout.manifest: render_manifest(layout.template_manifest.read_text(), name, keys),
    }
    kustomization = layout.kustomization.read_text()
    if not _listed_resource(kustomization, f"{name}.yaml"):
        plan[layout.kustomization] = add_resource(kustomization, f"{name}.yaml")
    compose = layout.compose.read_text()
    if name not in _compose_entries(compose).names:
        consumers = {p.parent.name for p in (layout.root / "services").glob("*/service.py")}
        plan[layout.compose] = add_compose_service(compose, name, after=consumers)
    return plan


def template_values(name: str, keys: tuple[str, ...]) -> dict[str, str]:
    quoted = ", ".join(f'"{key}"' for key in keys)
    imports = {
        f"services.{name}.service": "build, handle",
        "services.runtime.service": "keys",
        "services.runtime.settings": "Settings",
    }
    return {
        "name": name,
        "service_imports": "".join(f"from {m} import {imports[m]}\n" for m in sorted(imports)),
        "title": name.title(),
        "keys_text": describe_keys(keys),
        "key_tuple": f"{quoted}," if len(keys) == 1 else quoted,
    }


def describe_keys(keys: Sequence[str]) -> str:
    """`key 3`, `keys 1 and 2`, `keys *, # and 0`."""
    if len(keys) == 1:
        return f"key {keys[0]}"
    return f"keys {', '.join(keys[:-1])} and {keys[-1]}"


def rename(text: str, name: str) -> str:
    """Replace the template service's name, as a whole word, in each of its spellings."""
    for old, new in (
        (TEMPLATE_SERVICE, name),
        (TEMPLATE_SERVICE.title(), name.title()),
        (TEMPLATE_SERVICE.upper(), name.upper()),
    ):
        text = re.sub(rf"\b{old}\b", new, text)
    return text


def _check_renamed(text: str, what: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(rf"\b{TEMPLATE_SERVICE}\b", line, re.IGNORECASE):
            raise ScaffoldError(f"{what} still mentions {TEMPLATE_SERVICE} on line {number}")


def render_manifest(template: str, name: str, keys: tuple[str, ...]) -> str:
    """deploy/k8s/base/sales.yaml, renamed for `name`, under a header of its own."""
    body = template.split("\n")
    while body and body[0].startswith("#"):
        body.pop(0)  # the template's header comment describes the template
    header = (
        f"# {name}: consumer service on {describe_keys(keys)}; `dtmf-bus run {name}` "
        f"consuming {service_queue(name)}.\n"
        "# Scaffolded by `dtmf-bus new-consumer`: edit it like any other manifest.\n"
    )
    text = header + rename("\n".join(body), name)
    check_manifest(text, name)
    return text


def check_manifest(text: str, name: str) -> None:
    """The rendered manifests parse and name the service wherever sales named itself."""
    import yaml  # a development dependency, like this tool; the service image has none

    what = f"deploy/k8s/base/{name}.yaml (rendered from {TEMPLATE_SERVICE}.yaml)"
    _check_renamed(text, what)
    try:
        docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(text) if d]
        problems = manifest_problems({d["kind"]: d for d in docs}, name)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        problems = [f"unexpected shape ({type(exc).__name__}: {exc})"]
    if problems:
        raise ScaffoldError(
            f"{what}: {'; '.join(problems)}. Has {TEMPLATE_SERVICE}.yaml changed shape? "
            "Adapt services/scaffold.py to it."
        )


def manifest_problems(objects: dict[str, dict[str, Any]], name: str) -> list[str]:
    """What keeps the manifests (by kind) from deploying interactive service `name`."""
    problems = [f"no {kind}" for kind in MANIFEST_KINDS if kind not in objects]
    problems += [
        f"{kind} named {objects[kind]['metadata']['name']!r}"
        for kind in MANIFEST_KINDS
        if kind in objects and objects[kind]["metadata"]["name"] != name
    ]
    problems += [
        f"a {kind} (the queue has a single active consumer: replicas past the standby "
        "would only wait)"
        for kind in SCALER_KINDS
        if kind in objects
    ]
    if "Deployment" in objects:
        problems += _deployment_problems(objects["Deployment"]["spec"], name)
    return problems


def _deployment_problems(spec: dict[str, Any], name: str) -> list[str]:
    [container] = spec["template"]["spec"]["containers"]
    problems = []
    if container["args"] != ["run", name]:
        problems.append(f"Deployment runs {container['args']}")
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < ACTIVE_AND_STANDBY:
        problems.append(f"Deployment has replicas {replicas}, not an active one and a standby")
    return problems


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


def _listed_resource(text: str, entry: str) -> bool:
    lines = text.splitlines(keepends=True)
    _, items = _resource_items(lines)
    return any(_item_value(lines[i]) == entry for i in items)


def _item_value(line: str) -> str:
    match = _ITEM.match(line)
    value = match.group(2) if match else ""
    return value.strip("'\"")


def add_resource(text: str, entry: str) -> str:
    """Append `entry` to the `resources:` list, leaving every other line as it is."""
    import yaml

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
class _Entries:
    """The services of compose.yaml: name -> (first line, line after its last)."""

    spans: dict[str, tuple[int, int]]

    @property
    def names(self) -> set[str]:
        return set(self.spans)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _compose_entries(text: str) -> _Entries:
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
    return _Entries(spans)


def add_compose_service(text: str, name: str, *, after: set[str]) -> str:
    """Declare `name` as sales is declared, after the last consumer service of the file."""
    import yaml

    entries = _compose_entries(text)
    if TEMPLATE_SERVICE not in entries.spans:
        raise ScaffoldError(f"compose.yaml has no {TEMPLATE_SERVICE} service to copy")
    lines = text.splitlines(keepends=True)
    first, end = entries.spans[TEMPLATE_SERVICE]
    block = rename("".join(lines[first:end]), name)
    _check_renamed(block, f"the compose service for {name}")
    consumers = [span for entry, span in entries.spans.items() if entry in after]
    at = max(span[1] for span in consumers) if consumers else end
    new = "".join([*lines[:at], "\n", block, *lines[at:]])
    before, result = yaml.safe_load(text), yaml.safe_load(new)
    added = result["services"].pop(name, None)
    if result != before or not added or added.get("command") != ["run", name]:
        raise ScaffoldError(f"adding the {name} service to compose.yaml went wrong")
    return new


# -------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--name", required=True, help="the service's name: lower-case letters and digits"
    )
    parser.add_argument(
        "--keys",
        required=True,
        type=parse_keys,
        help="the keys it answers, comma separated: 3, or 1,2, or '*,#' (quote * and #)",
    )
    parser.add_argument(
        "--force", action="store_true", help="write the service's files again if they exist"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(),
        help="the repository's root (default: the current directory)",
    )


def run(args: argparse.Namespace) -> int:
    root: Path = args.root.resolve()
    try:
        written = scaffold(root=root, name=args.name, keys=args.keys, force=args.force)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created consumer service {args.name!r} on {describe_keys(normalize_keys(args.keys))}:")
    for path in written:
        print(f"  {path.relative_to(root)}")
    service = (Layout(root, args.name).package / "service.py").relative_to(root)
    steps = (
        (f"dtmf-bus run {args.name}", "start it (a broker must answer at AMQP_URL)"),
        (f"edit {service}", "replace the placeholder reply in handle()"),
        ("make test", "its unit test and the deployment checks"),
    )
    width = max(len(command) for command, _ in steps)
    print("next:")
    for command, why in steps:
        print(f"  {command.ljust(width)}  # {why}")
    return 0


# -------------------------------------------------------------------------- templates

INIT_TEMPLATE = Template('''\
"""$title: a consumer service (its keys and handler are in service.py)."""
''')

MAIN_TEMPLATE = Template('''\
"""Composition root: `python -m services.$name`."""

from services.runtime.main import main

if __name__ == "__main__":
    raise SystemExit(main("$name"))
''')

SERVICE_TEMPLATE = Template('''\
"""$title: a consumer service, scaffolded by `dtmf-bus new-consumer`.

Bound to $keys_text.
Run: dtmf-bus run $name
Test: tests/unit/test_${name}_service.py
Deployment: deploy/k8s/base/$name.yaml
and the `$name` service in compose.yaml.
"""

from __future__ import annotations

from contracts import Action, KeyPress, Say
from services.runtime.service import ConsumerService, keys
from services.runtime.settings import Settings

# The keys this service answers. To change them, change them here and in its test.
KEYS = ($key_tuple)


async def handle(press: KeyPress) -> list[Action]:
    """Answer a caller who pressed one of KEYS. Replace the placeholder reply below.

    Return what the agent does, in order: `Say(text=...)`, `SetInstructions(instructions=...)`
    to give the agent a new role (see services/sales/service.py), `Transfer(to=...)`,
    `Hangup()`; or an empty list for no reply. The caller is waiting: answer within a few
    hundred milliseconds. A press can be delivered twice (after a crash), so make side
    effects elsewhere idempotent on `press.event_id`; the edge drops the duplicate reply.
    Raising requeues the press; one that keeps failing is dead-lettered.
    """
    return [Say(text=f"$title here: you pressed {press.key}.")]


def build(settings: Settings) -> ConsumerService:
    return ConsumerService(
        name="$name",
        bindings=keys(*KEYS),
        handler=handle,
    )
''')

TEST_TEMPLATE = Template('''\
"""$title binds its keys and answers them: extend as the handler grows."""

from __future__ import annotations

import pytest

from contracts import KeyPress, Say
from contracts.base import utcnow
$service_imports
KEYS = ($key_tuple)


def press(key: str) -> KeyPress:
    at = utcnow()
    return KeyPress(
        call_id="c1",
        reply_to="edge-a",
        source="simulator",
        key=key,
        sequence=1,
        pressed_at=at,
        received_at=at,
    )


def test_binds_exactly_its_keys() -> None:
    service = build(Settings())
    assert service.name == "$name"
    assert list(service.bindings) == keys(*KEYS)


@pytest.mark.parametrize("key", KEYS)
async def test_answers_each_key_with_a_say(key: str) -> None:
    actions = await handle(press(key))
    assert any(isinstance(action, Say) for action in actions)
''')
