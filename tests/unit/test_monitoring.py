"""deploy/monitoring: Prometheus rules, their promtool unit tests, the scrape config, the dashboard.

promtool (Debian package `prometheus`) checks the rule file and config and runs the rule unit
tests in deploy/monitoring/alerts.test.yml. The rest checks that the alerts and the dashboard
only use the metric names the services expose (METRICS below, the contract another test holds
the code to) and no per-call label, that they keep namespaces apart in a Prometheus shared by
several environments, and that every alert links to its section of docs/runbooks.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
ALERT_TESTS = MONITORING / "alerts.test.yml"
PROMETHEUS_CONFIG = MONITORING / "prometheus.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

# The dtmf-bus metrics: name -> (type, labels the service sets). Target labels (job, instance,
# pod, ...) come on top; histograms also have le on _bucket. Keep in step with the code.
METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "dtmf_presses_received_total": ("counter", frozenset({"key", "source"})),
    "dtmf_events_published_total": ("counter", frozenset({"type"})),
    "dtmf_events_confirmed_total": ("counter", frozenset({"type"})),
    "dtmf_events_publish_failed_total": ("counter", frozenset({"type"})),
    "dtmf_messages_handled_total": ("counter", frozenset({"service", "outcome"})),
    "dtmf_handler_duration_seconds": ("histogram", frozenset({"service"})),
    "dtmf_press_to_reply_seconds": ("histogram", frozenset()),
    "dtmf_live_calls": ("gauge", frozenset()),
    "dtmf_broker_connected": ("gauge", frozenset({"service"})),
    "dtmf_publish_buffered": ("gauge", frozenset()),
    "dtmf_reply_timeouts_total": ("counter", frozenset()),
    "dtmf_presses_shed_total": ("counter", frozenset()),
    "dtmf_unanswered_presses": ("gauge", frozenset()),
    "dtmf_replies_applied_total": ("counter", frozenset({"outcome"})),
    "dtmf_events_dropped_total": ("counter", frozenset({"type"})),
    "dtmf_replies_undeliverable_total": ("counter", frozenset({"service"})),
    "dtmf_transfers_refused_total": ("counter", frozenset({"service"})),
}
# From RabbitMQ's rabbitmq_prometheus plugin, /metrics/per-object: name -> labels it sets
# (deps/rabbitmq_prometheus/metrics.md and its collectors in rabbitmq-server). Target labels
# come on top. Versions: alarms since 3.10, global counters since 3.9, queue_info since 4.2.
RABBITMQ_METRICS: dict[str, frozenset[str]] = {
    "rabbitmq_queue_messages_ready": frozenset({"vhost", "queue"}),
    "rabbitmq_queue_messages_unacked": frozenset({"vhost", "queue"}),
    "rabbitmq_queue_consumers": frozenset({"vhost", "queue"}),
    "rabbitmq_queue_info": frozenset({"vhost", "queue", "queue_type", "membership"}),
    "rabbitmq_alarms_memory_used_watermark": frozenset(),
    "rabbitmq_alarms_free_disk_space_watermark": frozenset(),
    "rabbitmq_process_open_fds": frozenset(),
    "rabbitmq_process_max_fds": frozenset(),
    "rabbitmq_global_messages_unroutable_dropped_total": frozenset({"protocol"}),
    "rabbitmq_global_messages_unroutable_returned_total": frozenset({"protocol"}),
}
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

METRIC_NAME = re.compile(r"\bdtmf_[a-z0-9_]+")
RABBITMQ_NAME = re.compile(r"\brabbitmq_[a-z0-9_]+")
# A selector's label matchers: name{label op "value", ...}
SELECTOR = re.compile(r"\b(dtmf_[a-z0-9_]+)\s*\{([^}]*)\}")
RABBITMQ_SELECTOR = re.compile(r"\b(rabbitmq_[a-z0-9_]+)\s*\{([^}]*)\}")
# Every series selector in a query: a name (or none) and its braces, or a bare name.
ANY_SELECTOR = re.compile(r"\b((?:dtmf|rabbitmq)_[a-z0-9_]+|up)\b\s*(\{[^}]*\})?")
# by (...), without (...), on (...) and the labels they list
GROUPING = re.compile(r"\b(by|without|on)\s*\(([^)]*)\)")
MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
CALL_ID = re.compile(r"call[_\-. ]?id", re.IGNORECASE)

# Grafana variables and their stand-ins, to check the dashboard's queries as PromQL.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${service}": ".+",
    "$service": ".+",
    "${queue}": "dtmf[.].+",
    "$queue": "dtmf[.].+",
    "$namespace": ".*",
    "$broker_job": ".+",
    "$job": ".+",
}

PROMTOOL_MISSING = (
    "promtool is not installed (it comes with Debian's `prometheus` package). `make test` "
    "installs it; by hand: `apt-get install -y --no-install-recommends prometheus` as root "
    "(then stop the prometheus service if the install started it)."
)


# ---------------------------------------------------------------------------------- helpers


def promtool() -> str:
    path = shutil.which("promtool") or shutil.which("promtool", path="/usr/bin:/usr/local/bin")
    if path is None:
        pytest.fail(PROMTOOL_MISSING, pytrace=False)
    return path


def run_promtool(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(ALERTS)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def load_dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def data_panels() -> list[dict[str, Any]]:
    return [p for p in all_panels(load_dashboard()["panels"]) if p.get("type") != "row"]


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and annotation query."""
    dashboard = load_dashboard()
    exprs = [
        (f"panel {p.get('title')!r} target {t.get('refId')}", t["expr"])
        for p in data_panels()
        for t in p.get("targets", [])
        if "expr" in t
    ]
    exprs += [
        (f"annotation {a.get('name')!r}", a["expr"])
        for a in dashboard.get("annotations", {}).get("list", [])
        if "expr" in a
    ]
    return exprs


def rule_exprs() -> list[tuple[str, str]]:
    groups = load_yaml(ALERTS)["groups"]
    return [
        (f"rule {rule.get('alert') or rule.get('record')}", str(rule["expr"]))
        for group in groups
        for rule in group["rules"]
    ]


def substitute_grafana_variables(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def base_metric(series_name: str) -> str | None:
    """The METRICS entry a series name belongs to, or None."""
    if series_name in METRICS:
        return series_name
    for suffix in HISTOGRAM_SUFFIXES:
        base = series_name.removesuffix(suffix)
        if base != series_name and METRICS.get(base, ("", frozenset()))[0] == "histogram":
            return base
    return None


def monitoring_texts() -> dict[str, str]:
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in (ALERTS, ALERT_TESTS, PROMETHEUS_CONFIG, DASHBOARD)
    }


# -------------------------------------------------------------------------------- promtool


def test_promtool_is_installed() -> None:
    promtool()


def test_alert_rules_are_valid() -> None:
    output = run_promtool("check", "rules", str(ALERTS.relative_to(ROOT)))
    assert "SUCCESS" in output


def test_alert_rule_unit_tests_pass() -> None:
    output = run_promtool("test", "rules", str(ALERT_TESTS.relative_to(ROOT)))
    assert "SUCCESS" in output


def test_example_prometheus_config_is_valid() -> None:
    output = run_promtool("check", "config", str(PROMETHEUS_CONFIG.relative_to(ROOT)))
    assert "SUCCESS" in output


def test_example_prometheus_config_scrapes_both_jobs_and_loads_the_rules() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"dtmf-bus", "rabbitmq"} <= set(jobs)
    targets = [t for sc in jobs["dtmf-bus"].get("static_configs", []) for t in sc["targets"]]
    assert targets and all(t.endswith(":8000") for t in targets)
    # per-object: the queue metrics need their `queue` label
    assert jobs["rabbitmq"]["metrics_path"] == "/metrics/per-object"
    broker = [t for sc in jobs["rabbitmq"]["static_configs"] for t in sc["targets"]]
    assert broker and all(t.endswith(":15692") for t in broker)
    for rule_file in config.get("rule_files", []):
        assert not Path(rule_file).is_absolute(), rule_file
        assert (PROMETHEUS_CONFIG.parent / rule_file).is_file(), rule_file
    assert "alerts.yml" in config.get("rule_files", [])


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query, once Grafana's variables are filled in."""
    exprs = dashboard_exprs()
    assert exprs
    rules = [
        {"record": f"dashboard:query_{i}", "expr": substitute_grafana_variables(expr)}
        for i, (_, expr) in enumerate(exprs)
    ]
    leftover = [expr for expr in (r["expr"] for r in rules) if "$" in expr]
    assert not leftover, f"unknown Grafana variables in: {leftover}"
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", str(rule_file))


# ------------------------------------------------------------------------------ the alerts

EXPECTED_ALERTS = {
    "DtmfQueueNoConsumer",
    "DtmfDeadLettersGrowing",
    "DtmfPressToReplySlow",
    "DtmfEdgePublishFailing",
    "DtmfEdgePublishBuffered",
    "DtmfBrokerDown",
    "DtmfBrokerUnreachable",
    "DtmfReplyTimeoutsRising",
    "DtmfTransferRefused",
    # the broker, on the metrics of its rabbitmq_prometheus plugin
    "DtmfBrokerMemoryAlarm",
    "DtmfBrokerDiskAlarm",
    "DtmfBrokerFileDescriptorsLow",
    "DtmfQuorumQueueNoLeader",
    "DtmfBrokerMajorityDown",
    "DtmfBrokerUnroutableDropped",
}


def test_the_required_alerts_exist() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    missing = EXPECTED_ALERTS - names
    assert not missing, f"missing alerts: {sorted(missing)}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']}")
def test_every_alert_has_for_severity_and_annotations(rule: dict[str, Any]) -> None:
    assert rule.get("for"), "an alert needs `for:` so a single scrape cannot page"
    assert rule.get("labels", {}).get("severity") in {"critical", "warning"}
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"missing annotation {key}"
    assert "runbook" not in annotations, "the runbook is docs/runbooks.md: link it (runbook_url)"


def runbook_anchors() -> set[str]:
    """The anchors GitHub gives docs/runbooks.md's headings (lower case, no punctuation)."""
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOKS.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_runbook_url_opens_the_alert_s_section_of_the_runbook() -> None:
    anchors = runbook_anchors()
    bases = set()
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        base, _, anchor = url.partition("#")
        assert base.startswith("https://") and base.endswith("/docs/runbooks.md"), url
        bases.add(base)
        assert anchor == rule["alert"].lower(), f"{url}: not the section of {rule['alert']}"
        assert anchor in anchors, f"docs/runbooks.md has no section {rule['alert']}"
    assert len(bases) == 1, f"one runbook, one address: {bases}"


def test_every_runbook_section_says_what_it_means_what_to_check_what_to_do() -> None:
    text = RUNBOOKS.read_text(encoding="utf-8")
    for name in sorted({rule["alert"] for rule in alert_rules()}):
        section = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
        assert section, f"docs/runbooks.md: no `## {name}` section"
        for part in ("Means", "Check", "Do"):
            assert re.search(rf"^\*\*{part}\*\*", section.group(1), re.M), f"{name}: no {part}"


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    """alerts.test.yml shows each alert (each severity) firing, and each alert staying quiet."""
    fired: set[tuple[str, str]] = set()
    quiet: set[str] = set()
    for case in load_yaml(ALERT_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            expected = check.get("exp_alerts") or []
            if not expected:
                quiet.add(check["alertname"])
            for alert in expected:
                fired.add((check["alertname"], alert["exp_labels"]["severity"]))
    rules = {(rule["alert"], rule["labels"]["severity"]) for rule in alert_rules()}
    assert rules <= fired, f"never shown firing: {sorted(rules - fired)}"
    names = {name for name, _ in rules}
    assert names <= quiet, f"never shown quiet: {sorted(names - quiet)}"


def test_alert_test_file_loads_the_rule_file_beside_it() -> None:
    rule_files = load_yaml(ALERT_TESTS)["rule_files"]
    assert rule_files == ["alerts.yml"]


# ---------------------------------------------------------------------------- the dashboard


def test_dashboard_is_a_grafana_json_model_with_a_prometheus_input() -> None:
    dashboard = load_dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    inputs = {i["name"]: i for i in dashboard.get("__inputs", [])}
    assert inputs["DS_PROMETHEUS"]["pluginId"] == "prometheus"
    # also a dashboard variable, so the file works when provisioned (no import step)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_panel_has_a_prometheus_datasource_and_targets() -> None:
    panels = data_panels()
    assert len(panels) >= 10
    for panel in panels:
        title = panel.get("title")
        assert panel.get("datasource") == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, title
        targets = panel.get("targets") or []
        assert targets, f"panel {title!r} has no targets"
        for target in targets:
            assert str(target.get("expr", "")).strip(), f"panel {title!r}: empty query"
            assert target.get("refId"), title
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], title
        grid = panel.get("gridPos", {})
        assert {"x", "y", "w", "h"} <= set(grid), f"panel {title!r} has no gridPos"
        assert grid["x"] + grid["w"] <= 24, title


def test_dashboard_shows_every_metric() -> None:
    text = " ".join(expr for _, expr in dashboard_exprs())
    used = {base_metric(name) for name in METRIC_NAME.findall(text)}
    missing = set(METRICS) - used
    assert not missing, f"no panel for {sorted(missing)}"
    for metric in RABBITMQ_METRICS:
        assert metric in text, f"no panel for {metric}"
    assert 'queue="dtmf.dead"' in text, "no dead-letter queue panel"
    assert any(p["type"] == "heatmap" for p in data_panels()), "no latency heatmap"


# ------------------------------------------------------------------------ names and labels


@pytest.mark.parametrize("name", sorted(monitoring_texts()))
def test_only_known_dtmf_metrics_are_named(name: str) -> None:
    text = monitoring_texts()[name]
    unknown = sorted({m for m in METRIC_NAME.findall(text) if base_metric(m) is None})
    assert not unknown, f"{name} names metrics the services do not expose: {unknown}"


def test_label_matchers_use_only_labels_the_metrics_have() -> None:
    texts = [expr for _, expr in rule_exprs() + dashboard_exprs()]
    for expr in texts:
        for metric, matchers in SELECTOR.findall(expr):
            base = base_metric(metric)
            assert base is not None, metric
            kind, labels = METRICS[base]
            allowed = labels | TARGET_LABELS | ({"le"} if kind == "histogram" else set())
            used = set(MATCHER_LABEL.findall(matchers))
            assert used <= allowed, f"{metric}{{{matchers}}}: unknown labels {used - allowed}"


@pytest.mark.parametrize("name", sorted(monitoring_texts()))
def test_no_query_uses_a_call_id_label(name: str) -> None:
    assert not CALL_ID.search(monitoring_texts()[name]), (
        f"{name} mentions a call id: metrics carry no per-call labels (cardinality)"
    )


def test_no_metric_has_a_call_id_label() -> None:
    for metric, (_, labels) in METRICS.items():
        assert not any(CALL_ID.search(label) for label in labels), metric


def test_only_known_rabbitmq_metrics_are_queried() -> None:
    for where, expr in rule_exprs() + dashboard_exprs():
        unknown = sorted(set(RABBITMQ_NAME.findall(expr)) - set(RABBITMQ_METRICS))
        assert not unknown, f"{where} reads metrics rabbitmq_prometheus does not export: {unknown}"


def test_rabbitmq_label_matchers_use_only_labels_the_plugin_sets() -> None:
    for _, expr in rule_exprs() + dashboard_exprs():
        for metric, matchers in RABBITMQ_SELECTOR.findall(expr):
            allowed = RABBITMQ_METRICS[metric] | TARGET_LABELS
            used = set(MATCHER_LABEL.findall(matchers))
            assert used <= allowed, f"{metric}{{{matchers}}}: unknown labels {used - allowed}"


# ------------------------------------------------------- one Prometheus, several namespaces


@pytest.mark.parametrize(("where", "expr"), rule_exprs(), ids=lambda v: str(v)[:40])
def test_rule_aggregations_keep_namespace_and_job(where: str, expr: str) -> None:
    """`by`/`on` list namespace and job; `without` never drops them: an aggregation that
    merged two environments would let one's healthy series hide the other's outage."""
    for keyword, labels in GROUPING.findall(expr):
        listed = {label.strip() for label in labels.split(",") if label.strip()}
        if keyword == "without":
            assert not listed & {"namespace", "job"}, f"{where}: {keyword} ({labels})"
        elif listed or keyword == "by":  # `on ()` matches any series: only for vectors
            assert {"namespace", "job"} <= listed, f"{where}: {keyword} ({labels})"
    # sum(...) with no by/without clause before it merges every namespace
    assert not re.search(r"\b(sum|min|max|avg|count|group)\s*\(", expr), f"{where}: {expr}"


# ---------------------------------------------------------------------- the dashboard


def variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in load_dashboard()["templating"]["list"]}


def test_dashboard_has_datasource_namespace_job_and_tempo_variables() -> None:
    found = variables()
    assert found["DS_PROMETHEUS"]["type"] == "datasource"
    assert found["tempo"]["type"] == "datasource" and found["tempo"]["query"] == "tempo"
    for name in ("namespace", "job", "broker_job"):
        variable = found[name]
        assert variable["type"] == "query" and variable["includeAll"], name
        assert variable["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert f", {'job' if name != 'namespace' else 'namespace'})" in variable["definition"]
    # "All" namespaces also matches series without one (a compose run has no namespace)
    assert found["namespace"]["allValue"] == ".*"
    for name in ("job", "broker_job", "service", "queue"):
        assert 'namespace=~"$namespace"' in found[name]["definition"], name


@pytest.mark.parametrize(("where", "expr"), dashboard_exprs(), ids=lambda v: str(v)[:50])
def test_every_dashboard_query_is_filtered_by_namespace_and_job(where: str, expr: str) -> None:
    selectors = ANY_SELECTOR.findall(expr)
    assert selectors or expr.startswith("ALERTS"), where
    for name, braces in selectors:
        job = "$broker_job" if name.startswith("rabbitmq_") else "$job"
        if name == "up":
            job = "$broker_job" if "$broker_job" in braces else "$job"
        assert 'namespace=~"$namespace"' in braces, f"{where}: {name}{braces}"
        assert f'job=~"{job}"' in braces, f"{where}: {name}{braces}"
    if expr.startswith("ALERTS"):
        assert 'namespace=~"$namespace"' in expr
    for keyword, labels in GROUPING.findall(expr):
        if keyword == "by":
            assert "namespace" in labels, f"{where}: by ({labels}) merges namespaces"


def recorded_from() -> dict[str, set[str]]:
    """Recording rule -> the metric names its expression reads."""
    groups = load_yaml(ALERTS)["groups"]
    return {
        rule["record"]: set(re.findall(r"\b(?:dtmf|rabbitmq)_[a-z0-9_]+", rule["expr"]))
        for group in groups
        for rule in group["rules"]
        if "record" in rule
    }


def signals(expr: str) -> set[str]:
    """The series an expression reads, recording rules replaced by what they read."""
    names = set(re.findall(r"\b(?:dtmf|rabbitmq)_[a-z0-9_]+|\bup\b", expr))
    for record, source in recorded_from().items():
        if record in expr:
            names |= source
    return names


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']}")
def test_every_alert_s_signal_has_a_panel(rule: dict[str, Any]) -> None:
    """What an alert fired on can be seen on the dashboard: every series it reads is queried
    by a panel (broker `up` by the broker job, service `up` by the dtmf-bus job)."""
    panel_text = " ".join(expr for where, expr in dashboard_exprs() if where.startswith("panel"))
    for name in signals(str(rule["expr"])):
        if name == "up":
            job = "$broker_job" if 'job="rabbitmq"' in str(rule["expr"]) else "$job"
            assert f'up{{namespace=~"$namespace", job=~"{job}"}}' in panel_text, rule["alert"]
        else:
            assert re.search(rf"\b{name}\b", panel_text), f"{rule['alert']}: no panel for {name}"


def test_latency_panel_links_its_exemplars_to_the_trace() -> None:
    [panel] = [p for p in data_panels() if p["title"].startswith("Press-to-reply latency p50")]
    exemplars = [t for t in panel["targets"] if t.get("exemplar")]
    assert exemplars and "dtmf_press_to_reply_seconds_bucket" in exemplars[0]["expr"]
    links = [
        link
        for override in panel["fieldConfig"]["overrides"]
        if override["matcher"] == {"id": "byName", "options": "trace_id"}
        for prop in override["properties"]
        if prop["id"] == "links"
        for link in prop["value"]
    ]
    assert links, "no link on the exemplars' trace_id"
    assert links[0]["internal"]["datasourceUid"] == "${tempo}"
    assert links[0]["internal"]["query"]["query"] == "${__value.raw}"
