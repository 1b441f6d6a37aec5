"""`dtmf-bus new-consumer`: check, render every file of a new service, then write them."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

from tools.scaffold.layers import add_to_layers, listed_in_layers
from tools.scaffold.listings import (
    add_compose_service,
    add_resource,
    compose_entries,
    listed_resource,
)
from tools.scaffold.manifests import render_manifest
from tools.scaffold.names import (
    TEMPLATE_SERVICE,
    ScaffoldError,
    check_name,
    describe_keys,
    normalize_keys,
    parse_keys,
)
from tools.scaffold.scrape import add_scrape_target, listed_target

log = logging.getLogger(__name__)


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

    @property
    def prometheus(self) -> Path:
        return self.root / "deploy" / "monitoring" / "prometheus.yml"

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"


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
    if listed_resource(layout.kustomization.read_text(), f"{layout.name}.yaml"):
        found.append(f"{layout.name}.yaml in {layout.kustomization.relative_to(root)}")
    if layout.name in compose_entries(layout.compose.read_text()).names:
        found.append(f"service {layout.name} in compose.yaml")
    if found:
        raise ScaffoldError(
            f"service {layout.name!r} exists already ({', '.join(found)}): "
            "choose another name, or pass --force to write its files again"
        )


# -------------------------------------------------------------------------- rendering


@cache
def template(name: str) -> Template:
    """One of the files under tools/scaffold/templates/ ($-placeholders, string.Template)."""
    return Template((Path(__file__).with_name("templates") / name).read_text())


def render(layout: Layout, keys: tuple[str, ...]) -> dict[Path, str]:
    """Every file to write, with its new content; the deployment edits are checked here."""
    name = layout.name
    values = template_values(name, keys)
    plan = {
        layout.package / "__init__.py": template("package_init.py.tmpl").substitute(values),
        layout.package / "__main__.py": template("package_main.py.tmpl").substitute(values),
        layout.package / "service.py": template("service.py.tmpl").substitute(values),
        layout.test: template("test_service.py.tmpl").substitute(values),
        layout.manifest: render_manifest(layout.template_manifest.read_text(), name, keys),
    }
    kustomization = layout.kustomization.read_text()
    if not listed_resource(kustomization, f"{name}.yaml"):
        plan[layout.kustomization] = add_resource(kustomization, f"{name}.yaml")
    compose = layout.compose.read_text()
    if name not in compose_entries(compose).names:
        consumers = {p.parent.name for p in (layout.root / "services").glob("*/service.py")}
        plan[layout.compose] = add_compose_service(compose, name, after=consumers)
    # Prometheus scrapes it in compose as it scrapes sales (on Kubernetes the ServiceMonitor
    # selects every service by label: nothing to add there).
    if layout.prometheus.exists():
        prometheus = layout.prometheus.read_text()
        if not listed_target(prometheus, name):
            plan[layout.prometheus] = add_scrape_target(prometheus, name)
    # `make lint` keeps it apart from the other services and its handler free of aio-pika.
    if layout.pyproject.exists():
        pyproject = layout.pyproject.read_text()
        if not listed_in_layers(pyproject, name):
            plan[layout.pyproject] = add_to_layers(pyproject, name)
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
