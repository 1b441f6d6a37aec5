"""The overlays plug into a shared Prometheus and Grafana (kube-prometheus-stack and friends).

Each namespace's PrometheusRule sees only its own namespace (promtool evaluates the rendered
rules against two namespaces' series); the monitoring objects carry the label Prometheus
selects them by; where Prometheus runs and that label are one setting per overlay, which
reaches the NetworkPolicy and the edge's scaler; the dashboard ships as a ConfigMap for
Grafana's sidecar.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_deploy import DEPLOY, K8S, _run, kind, kubectl, one, render, rule_renderer
from tests.unit.test_monitoring import DASHBOARD, run_promtool

MONITORED_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")
DEFAULT_RELEASE = "kube-prometheus-stack"  # kube-prometheus-stack's Helm release, by default
DEFAULT_PROMETHEUS_NAMESPACE = "monitoring"
OTHER = "dtmf-bus"  # the namespace next to dev's in one Prometheus


def _scoped_rule_file(tmp_path: Path, overlay: str) -> Path:
    rule = one(render(overlay), "PrometheusRule")
    path = tmp_path / "scoped-rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


def test_a_namespace_s_rules_see_only_that_namespace(tmp_path: Path) -> None:
    """Both namespaces lose their sales consumer and dev has no scrape targets, in one
    Prometheus: dev's rules alert and record for dev only, so the copy in dtmf-bus (which
    sees the same series) neither doubles dev's alerts nor hides its own."""
    namespace = one(render("dev"), "Namespace")["metadata"]["name"]
    assert namespace != OTHER
    rules = _scoped_rule_file(tmp_path, "dev")
    queue = 'vhost="/",queue="dtmf.svc.sales"'
    series = [
        (f'rabbitmq_queue_consumers{{namespace="{ns}",job="rabbitmq",{queue}}}', "0x20")
        for ns in (namespace, OTHER)
    ]
    series += [
        (f'up{{namespace="{OTHER}",job="{job}"}}', "1x20") for job in ("dtmf-bus", "rabbitmq")
    ]
    series += [
        (f'dtmf_press_to_reply_seconds_count{{namespace="{ns}",job="dtmf-bus"}}', "0+60x20")
        for ns in (namespace, OTHER)
    ]
    # The alerts by name, namespace and job: the ALERTS series the rule evaluation writes.
    firing = 'count by (alertname, namespace, job) (ALERTS{alertstate="firing"})'
    expected = [
        ("DtmfQueueNoConsumer", "rabbitmq"),
        ("DtmfScrapeTargetMissing", "rabbitmq"),
        ("DtmfScrapeTargetMissing", "dtmf-bus"),
    ]
    case = {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series],
        "promql_expr_test": [
            {
                "expr": firing,
                "eval_time": "15m",
                "exp_samples": [
                    {
                        "labels": f'{{alertname="{name}",namespace="{namespace}",job="{job}"}}',
                        "value": 1,
                    }
                    for name, job in expected
                ],
            },
            {
                "expr": "dtmf:press_to_reply_seconds:rate5m",
                "eval_time": "10m",
                "exp_samples": [
                    {
                        "labels": "dtmf:press_to_reply_seconds:rate5m"
                        f'{{namespace="{namespace}",job="dtmf-bus"}}',
                        "value": 1,
                    }
                ],
            },
        ],
    }
    tests = tmp_path / "scoped.test.yml"
    tests.write_text(
        yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": [case]})
    )
    run_promtool("test", "rules", str(tests))


def test_scoping_refuses_a_selector_that_names_a_namespace() -> None:
    scope = rule_renderer().scope
    assert scope('sum by (namespace) (rate(x_total{a="b"}[5m]))', "n") == (
        'sum by (namespace) (rate(x_total{namespace="n",a="b"}[5m]))'
    )
    with pytest.raises(ValueError, match="names a namespace"):
        scope('up{namespace="other"}', "n")


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_prometheus_selects_the_monitoring_objects_by_their_release_label(overlay: str) -> None:
    docs = render(overlay)
    for kind_ in MONITORED_KINDS:
        labels = one(docs, kind_)["metadata"]["labels"]
        assert labels.get("release") == DEFAULT_RELEASE, f"{overlay} {kind_}: {labels}"


def _prometheus_peer(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    policy = kind(docs, "NetworkPolicy")["dtmf-bus-from-prometheus"]
    [rule] = policy["spec"]["ingress"]
    [peer] = rule["from"]
    return dict(peer["namespaceSelector"]["matchLabels"])


def _scaler_address(docs: tuple[dict[str, Any], ...]) -> str:
    address: str = kind(docs, "ScaledObject")["edge"]["spec"]["triggers"][0]["metadata"][
        "serverAddress"
    ]
    return address


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_default_prometheus_is_kube_prometheus_stack_in_monitoring(overlay: str) -> None:
    docs = render(overlay)
    assert _prometheus_peer(docs) == {"kubernetes.io/metadata.name": DEFAULT_PROMETHEUS_NAMESPACE}
    assert _scaler_address(docs) == "http://prometheus-operated.monitoring.svc:9090"
    assert "monitoring-settings" not in kind(docs, "ConfigMap"), "kustomize-only, never applied"


def test_one_setting_moves_prometheus_and_its_selector_label(tmp_path: Path) -> None:
    """An overlay's monitoring-settings.yaml is the only place to change: the NetworkPolicy
    lets the new namespace scrape, KEDA asks the Prometheus there, and the monitoring
    objects carry the new release label."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("crds"))
    settings = copy / "k8s" / "overlays" / "dev" / "monitoring-settings.yaml"
    document = yaml.safe_load(settings.read_text())
    document["data"] = {"prometheus-namespace": "observability", "selector-release": "prom"}
    settings.write_text(yaml.safe_dump(document))
    result = _run([kubectl(), "kustomize", str(copy / "k8s" / "overlays" / "dev")])
    assert result.returncode == 0, result.stderr
    docs = tuple(d for d in yaml.safe_load_all(result.stdout) if d)
    assert _prometheus_peer(docs) == {"kubernetes.io/metadata.name": "observability"}
    assert _scaler_address(docs) == "http://prometheus-operated.observability.svc:9090"
    for kind_ in MONITORED_KINDS:
        assert one(docs, kind_)["metadata"]["labels"]["release"] == "prom", kind_


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_dashboard_ships_as_a_configmap_for_grafana_s_sidecar(overlay: str) -> None:
    docs = render(overlay)
    namespace = one(docs, "Namespace")["metadata"]["name"]
    dashboards = [
        cm
        for cm in kind(docs, "ConfigMap").values()
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert len(dashboards) == 1, "one dashboard ConfigMap, labelled for the sidecar"
    [configmap] = dashboards
    assert configmap["metadata"]["namespace"] == namespace
    [(filename, text)] = configmap["data"].items()
    assert filename.endswith(".json")
    assert json.loads(text) == json.loads(DASHBOARD.read_text())


def test_overlays_render_with_kustomize_alone() -> None:
    """`kubectl apply -k` is what users run: each overlay renders without errors."""
    for overlay in ("dev", "prod"):
        result = _run([kubectl(), "kustomize", str(K8S / "overlays" / overlay)])
        assert result.returncode == 0, result.stderr
