"""A new service's Kubernetes manifests: the template service's, renamed and checked."""

from __future__ import annotations

from typing import Any

from contracts.topology import service_queue
from tools.scaffold.names import (
    TEMPLATE_SERVICE,
    ScaffoldError,
    check_renamed,
    describe_keys,
    rename,
)

# The objects every consumer service has (tests/unit/test_deploy.py checks them all).
MANIFEST_KINDS = ("Deployment", "Service", "PodDisruptionBudget")
# What an interactive service must not have: its queue delivers to one consumer at a time,
# so replicas beyond the standby would only wait.
SCALER_KINDS = ("ScaledObject", "HorizontalPodAutoscaler")
ACTIVE_AND_STANDBY = 2


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
    check_renamed(text, what)
    try:
        docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(text) if d]
        problems = manifest_problems({d["kind"]: d for d in docs}, name)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        problems = [f"unexpected shape ({type(exc).__name__}: {exc})"]
    if problems:
        raise ScaffoldError(
            f"{what}: {'; '.join(problems)}. Has {TEMPLATE_SERVICE}.yaml changed shape? "
            "Adapt tools/scaffold/manifests.py to it."
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
