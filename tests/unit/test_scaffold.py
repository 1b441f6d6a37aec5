"""`dtmf-bus new-consumer`: a scaffolded service passes its own test and the deployment checks.

Each test scaffolds into a copy of this working tree (never the repository itself); the
generated test and the repository's deployment checks then run in that copy, as
`make test` would run them there.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tools.scaffold import ScaffoldError, add_arguments, check_name, run, scaffold

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# What git ignores, plus git itself and the virtualenv: the copy holds the working tree.
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "var",
    "build",
    "__pycache__",
    "*.egg-info",
    ".*_cache",
    ".hypothesis",
    "node_modules",
)
# test_deploy.py without checkov: the slowest check by far (seconds), and a new service's
# manifests are sales.yaml renamed, so checkov's findings cannot differ from sales'.
DEPLOY_CHECKS = "not checkov"
STAR_HASH = "concierge"  # the second service, on * and #
KUSTOMIZATION = "deploy/k8s/base/kustomization.yaml"
PROMETHEUS_CONFIG = "deploy/monitoring/prometheus.yml"


def copy_repo(dest: Path) -> Path:
    shutil.copytree(REPO, dest, ignore=IGNORED, dirs_exist_ok=True)
    _drop_undeployed_services(dest)
    return dest


def _drop_undeployed_services(copy: Path) -> None:
    """Remove consumer services not deployed yet: work in progress elsewhere in the tree,
    which the repository's own test_deploy.py judges, not this test."""
    listed = (copy / "deploy" / "k8s" / "base" / "kustomization.yaml").read_text()
    for module in (copy / "services").glob("*/service.py"):
        name = module.parent.name
        if name != "runtime" and not re.search(rf"^\s*- {name}\.yaml\s*$", listed, re.M):
            shutil.rmtree(module.parent)
            (copy / "tests" / "unit" / f"test_{name}_service.py").unlink(missing_ok=True)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file the scaffold could touch, by path."""
    files = [root / "compose.yaml"]
    for top in ("services", "tests", "deploy"):
        files += [p for p in (root / top).rglob("*") if p.is_file()]
    return {str(p.relative_to(root)): p.read_bytes() for p in files if "__pycache__" not in p.parts}


def in_copy(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command run in the copy, importing `services` and `contracts` from it."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run(
        args, cwd=copy, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def pytest_in(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return in_copy(copy, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args)


@dataclass(frozen=True)
class Scaffolded:
    copy: Path
    name: str  # on key 3
    written: dict[str, list[Path]]
    before: dict[str, str]  # the files the scaffold edits, as they were in the copy


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Scaffolded:
    copy = copy_repo(tmp_path_factory.mktemp("repo"))
    # A real services/billing may exist: then the copy gets another service on 3.
    name = "loyalty" if (copy / "services" / "billing").exists() else "billing"
    edited = (KUSTOMIZATION, "compose.yaml", PROMETHEUS_CONFIG, "pyproject.toml")
    before = {path: (copy / path).read_text() for path in edited}
    written = {
        name: scaffold(root=copy, name=name, keys=["3"]),
        STAR_HASH: scaffold(root=copy, name=STAR_HASH, keys=["*", "#"]),
    }
    return Scaffolded(copy, name, written, before)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


# ----------------------------------------------------------------- what gets written


def test_writes_the_service_its_test_and_its_deployment(scaffolded: Scaffolded) -> None:
    for name, written in scaffolded.written.items():
        assert [str(p.relative_to(scaffolded.copy)) for p in written] == [
            f"services/{name}/__init__.py",
            f"services/{name}/__main__.py",
            f"services/{name}/service.py",
            f"tests/unit/test_{name}_service.py",
            f"deploy/k8s/base/{name}.yaml",
            "deploy/k8s/base/kustomization.yaml",
            "compose.yaml",
            "deploy/monitoring/prometheus.yml",
            "pyproject.toml",
            "deploy/k8s/base/broker-users.yaml",
        ]
    service = (scaffolded.copy / "services" / STAR_HASH / "service.py").read_text()
    assert 'KEYS = ("*", "#")' in service
    assert 'Say(text=f"Concierge here: you pressed {press.key}.")' in service
    assert "async def handle(press: KeyPress) -> list[Action]:" in service


def test_generated_tests_pass_without_edits(scaffolded: Scaffolded) -> None:
    tests = [f"tests/unit/test_{name}_service.py" for name in scaffolded.written]
    result = pytest_in(scaffolded.copy, "-q", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    # billing: its bindings and key 3; concierge: its bindings, * and #.
    assert "5 passed" in result.stdout, result.stdout


def test_deployment_checks_pass_with_the_new_services(scaffolded: Scaffolded) -> None:
    result = pytest_in(scaffolded.copy, "-v", "tests/unit/test_deploy.py", "-k", DEPLOY_CHECKS)
    assert result.returncode == 0, result.stdout + result.stderr
    for check in (  # the checks that every service has its manifests ran, and passed
        "test_every_service_has_a_scrape_target",
        "test_every_service_has_a_deployment_running_it[dev]",
        "test_every_service_has_a_deployment_running_it[prod]",
        "test_no_scaler_targets_a_single_active_consumer_queue[prod]",
        "test_single_active_consumers_run_active_and_standby[prod]",
        "test_every_deployment_has_a_service_and_a_budget[prod]",
        "test_every_object_matches_its_schema[prod]",
        "test_compose_runs_every_service_with_its_roles_settings",
    ):
        assert f"{check} PASSED" in result.stdout, result.stdout


def test_generated_code_passes_the_linters(scaffolded: Scaffolded) -> None:
    files = [
        str(p.relative_to(scaffolded.copy))
        for written in scaffolded.written.values()
        for p in written
        if p.suffix == ".py"
    ]
    for command in (("check",), ("format", "--check")):
        result = in_copy(scaffolded.copy, str(VENV_BIN / "ruff"), *command, *files)
        assert result.returncode == 0, result.stdout + result.stderr


def test_manifests_are_sales_renamed(scaffolded: Scaffolded) -> None:
    base = scaffolded.copy / "deploy" / "k8s" / "base"
    sales = list(yaml.safe_load_all((base / "sales.yaml").read_text()))
    for name in scaffolded.written:
        text = (base / f"{name}.yaml").read_text()
        assert not re.search(r"sales", text, re.I)
        renamed = json.loads(re.sub(r"\bsales\b", name, json.dumps(sales)))
        docs = list(yaml.safe_load_all(text))
        assert docs == renamed
        assert f'args: ["run", "{name}"]\n' in text
        # Interactive: a fixed active + standby pair, no autoscaler.
        assert [d["kind"] for d in docs] == ["Deployment", "Service", "PodDisruptionBudget"]
        assert docs[0]["spec"]["replicas"] == 2


def test_kustomization_and_compose_only_gain_lines(scaffolded: Scaffolded) -> None:
    names = list(scaffolded.written)
    added = added_lines(scaffolded, KUSTOMIZATION)
    assert added == [f"  - {n}.yaml" for n in names]
    compose = added_lines(scaffolded, "compose.yaml")
    expected: list[str] = []
    for name in names:
        expected += [f"  {name}:", "    <<: *dtmf-service", f'    command: ["run", "{name}"]', ""]
    assert compose == expected


def test_prometheus_scrapes_the_new_services_as_it_scrapes_sales(scaffolded: Scaffolded) -> None:
    """compose's Prometheus gets a target per new service, next to sales' (and nothing else
    changes); the copy's deployment checks then find every service scraped."""
    added = added_lines(scaffolded, PROMETHEUS_CONFIG)
    assert added == [f"          - {name}:8000" for name in scaffolded.written]
    config = yaml.safe_load((scaffolded.copy / PROMETHEUS_CONFIG).read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "dtmf-bus"]
    [targets] = [group["targets"] for group in job["static_configs"]]
    assert {"sales:8000", *(f"{name}:8000" for name in scaffolded.written)} <= set(targets)


def test_the_new_services_join_the_import_layers(scaffolded: Scaffolded) -> None:
    """`make lint` keeps each new service apart from the others and its handler free of
    aio-pika, as it does for sales: pyproject's contracts gain exactly those lines."""
    added = added_lines(scaffolded, "pyproject.toml")
    assert sorted(added) == sorted(
        line
        for name in scaffolded.written
        for line in (f'    "services.{name}",', f'    "services.{name}.service",')
    )
    config = tomllib.loads((scaffolded.copy / "pyproject.toml").read_text())
    contracts = {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}
    [independent] = [c for c in contracts.values() if c["type"] == "independence"]
    [pure] = [c for c in contracts.values() if "pure core" in c["name"]]
    for name in scaffolded.written:
        assert f"services.{name}" in independent["modules"]
        assert f"services.{name}.service" in pure["source_modules"]


def added_lines(scaffolded: Scaffolded, path: str) -> list[str]:
    """The lines the scaffold added to a file; fails on any removed or changed."""
    before = scaffolded.before[path].splitlines()
    after = (scaffolded.copy / path).read_text().splitlines()
    diff = list(difflib.ndiff(before, after))
    assert not [d for d in diff if d.startswith("- ")], "\n".join(diff)
    return [d[2:] for d in diff if d.startswith("+ ")]


# ------------------------------------------------------------------------ refusals


def test_running_twice_fails_and_changes_nothing(scaffolded: Scaffolded) -> None:
    before = snapshot(scaffolded.copy)
    with pytest.raises(ScaffoldError, match=f"service '{STAR_HASH}' exists already") as info:
        scaffold(root=scaffolded.copy, name=STAR_HASH, keys=["*", "#"])
    for part in ("services/", "tests/unit/", ".yaml", "kustomization.yaml", "compose.yaml"):
        assert part in str(info.value)
    assert snapshot(scaffolded.copy) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Billing", "invalid service name"),
        ("9lives", "invalid service name"),
        ("late_fees", "invalid service name"),  # Kubernetes refuses _ in names
        ("late-fees", "invalid service name"),  # Python refuses - in package names
        ("", "invalid service name"),
        ("../billing", "invalid service name"),
        ("a" * 33, "longer than 32"),
        ("runtime", "reserved"),
        ("edge", "reserved"),
        ("keypad", "reserved"),  # a compose service that is no consumer service
        ("prometheus", "reserved"),
        ("sales", "reserved"),
        ("rabbitmq", "reserved"),
        ("class", "reserved"),
        ("monitoring", "taken by deploy/k8s/base/monitoring.yaml"),
        ("support", "exists already"),
    ],
)
def test_a_bad_name_is_refused_and_nothing_written(repo: Path, name: str, message: str) -> None:
    before = snapshot(repo)
    with pytest.raises(ScaffoldError, match=re.escape(message)):
        scaffold(root=repo, name=name, keys=["3"])
    assert snapshot(repo) == before


@pytest.mark.parametrize("name", ["cli", "demo", "deadletters", "retire", "scaffold"])
def test_an_operator_tool_s_name_is_free_for_a_service(name: str) -> None:
    """The tools live in tools/, not among the services: their names collide with nothing."""
    check_name(name)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["12"], "invalid DTMF key '12'"),
        (["E"], "invalid DTMF key 'E'"),
        (["3", "Makefile"], "quote * and #"),  # an unquoted * expanded by the shell
        ([], "at least one key"),
        (["3", ""], "empty key"),
        (["3", "3"], "key 3 is given twice"),
        (["*", "star"], "key * is given twice"),
    ],
)
def test_a_bad_key_is_refused_and_nothing_written(
    repo: Path, keys: Sequence[str], message: str
) -> None:
    before = snapshot(repo)
    with pytest.raises(ScaffoldError, match=re.escape(message)):
        scaffold(root=repo, name="loyalty", keys=keys)
    assert snapshot(repo) == before


SCALER = """---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: sales
spec:
  scaleTargetRef:
    name: sales
  triggers:
    - type: rabbitmq
      metadata:
        queueName: dtmf.svc.sales
"""


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text + SCALER, "a ScaledObject (the queue has a single active consumer"),
        (lambda text: text.replace("  replicas: 2\n", ""), "replicas None"),
        (lambda text: text.replace("replicas: 2", "replicas: 1"), "replicas 1"),
    ],
)
def test_a_template_that_would_scale_standbys_is_refused(
    repo: Path, edit: Callable[[str], str], message: str
) -> None:
    template = repo / "deploy" / "k8s" / "base" / "sales.yaml"
    template.write_text(edit(template.read_text()))
    before = snapshot(repo)
    with pytest.raises(ScaffoldError, match=re.escape(message)):
        scaffold(root=repo, name="loyalty", keys=["3"])
    assert snapshot(repo) == before


def test_force_writes_the_files_again_and_lists_the_service_once(repo: Path) -> None:
    scaffold(root=repo, name="loyalty", keys=["3"])
    written = scaffold(root=repo, name="loyalty", keys=["4", "5"], force=True)
    assert {p.name for p in written} == {
        "__init__.py",
        "__main__.py",
        "service.py",
        "test_loyalty_service.py",
        "loyalty.yaml",
        "broker-users.yaml",  # regenerated: the service now binds other keys
    }
    assert 'KEYS = ("4", "5")' in (repo / "services" / "loyalty" / "service.py").read_text()
    kustomization = (repo / "deploy" / "k8s" / "base" / "kustomization.yaml").read_text()
    assert kustomization.count("- loyalty.yaml") == 1
    assert (repo / "compose.yaml").read_text().count("  loyalty:\n") == 1


def test_force_never_replaces_what_is_no_service(repo: Path) -> None:
    before = snapshot(repo)
    for name in ("monitoring", "networkpolicies", "runtime"):
        with pytest.raises(ScaffoldError):
            scaffold(root=repo, name=name, keys=["3"], force=True)
    assert snapshot(repo) == before


def test_outside_a_checkout_it_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="not a dtmf-bus checkout"):
        scaffold(root=tmp_path, name="loyalty", keys=["3"])
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- CLI


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_prints_what_it_created_and_what_next(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(parse("--name", "loyalty", "--keys", "*,#", "--root", str(repo))) == 0
    out = capsys.readouterr().out
    assert "created consumer service 'loyalty' on keys * and #" in out
    assert "  services/loyalty/service.py\n" in out
    assert "  compose.yaml\n" in out
    for step in ("dtmf-bus run loyalty", "edit services/loyalty/service.py", "make test"):
        assert step in out


def test_cli_reports_errors_on_stderr_with_status_2(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(parse("--name", "loyalty", "--keys", "3,x", "--root", str(repo))) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: invalid DTMF key 'x'")


def test_cli_root_defaults_to_the_current_directory(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert run(parse("--name", "loyalty", "--keys", "3")) == 0
    assert (repo / "services" / "loyalty" / "service.py").exists()
