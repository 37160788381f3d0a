"""deploy/prometheus without promtool: every alert expression parses (promql-parser), every
metric it reads is one the project emits under that name, and the scrape targets are the
stack's metrics ports."""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from cloudz.metrics.statsd_bridge import series_names
from cloudz.metrics.task_metrics import PREFIX
from cloudz.settings import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy" / "prometheus"
#: the task_metrics call → the StatsD type it sends
STATSD_KIND = {"incr": "c", "gauge": "g", "timing": "ms", "timer": "ms"}
AIRFLOW_KIND = {"counter": "c", "gauge": "g", "timer": "ms"}
#: series Prometheus makes itself
PROMETHEUS_OWN = {"up"}


def _rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def task_metric_calls() -> set[tuple[str, str]]:
    """(name, StatsD type) of every ``task_metrics`` call with a literal name in the code."""
    found: set[tuple[str, str]] = set()
    for path in [*(PROJECT_ROOT / "cloudz").rglob("*.py"), *(PROJECT_ROOT / "dags").glob("*.py")]:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if not (isinstance(owner, ast.Name) and owner.id == "task_metrics"):
                continue
            if node.func.attr in STATSD_KIND and node.args:
                name = node.args[0]
                assert isinstance(name, ast.Constant), f"{path}:{node.lineno}: a computed name"
                found.add((str(name.value), STATSD_KIND[node.func.attr]))
    return found


def _airflow_registry() -> Path:
    spec = importlib.util.find_spec("airflow")
    assert spec is not None and spec.submodule_search_locations is not None
    for root in spec.submodule_search_locations:
        path = Path(root, "_shared", "observability", "metrics", "metrics_template.yaml")
        if path.exists():
            return path
    raise AssertionError("Airflow's metrics_template.yaml not found")


@cache
def emitted() -> dict[str, str]:
    """Every series name the project's parts expose → who exposes it."""
    names: dict[str, str] = dict.fromkeys(PROMETHEUS_OWN, "Prometheus")
    for name, kind in task_metric_calls():
        for series in series_names(f"{PREFIX}.{name}", kind):
            names[series] = "the tasks (StatsD bridge)"
    # Airflow's own list of what it sends (legacy names are off: tags are labels)
    for metric in yaml.safe_load(_airflow_registry().read_text())["metrics"]:
        if "{" not in metric["name"]:
            for series in series_names(f"airflow.{metric['name']}", AIRFLOW_KIND[metric["type"]]):
                names[series] = "Airflow (StatsD bridge)"
    # the receiver's prometheus_client metrics, registered when their modules load
    import prometheus_client

    import ingest_service.interceptors
    import ingest_service.metrics  # noqa: F401

    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    for family in prometheus_client.REGISTRY.collect():
        if family.name.startswith("cloudz_"):
            for suffix in suffixes[family.type]:
                names[family.name + suffix] = "the receiver"
    return names


def _metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expr}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_the_scan_sees_the_tasks_and_the_reconciles_metrics() -> None:
    calls = task_metric_calls()
    for expected in [
        ("files", "c"),
        ("bytes", "c"),
        ("rows", "c"),
        ("parse_errors", "c"),
        ("convert", "ms"),
        ("load", "ms"),
        ("collector.silent", "g"),
        ("reconcile.backlog", "g"),
    ]:
        assert expected in calls
    names = emitted()
    assert "cloudz_files_total" in names and "cloudz_convert_seconds_sum" in names
    assert "airflow_scheduler_heartbeat_total" in names
    assert "airflow_dag_processing_import_errors" in names
    assert "cloudz_grpc_calls_total" in names


def test_every_alert_parses_and_has_what_an_operator_needs() -> None:
    rules = _rules()
    assert len({rule["alert"] for rule in rules}) == len(rules)
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        promql_parser.parse(rule["expr"])
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: str(rule["alert"]))
def test_every_metric_an_alert_reads_is_emitted(rule: dict[str, Any]) -> None:
    names = emitted()
    used = _metric_names(rule["expr"])
    assert used
    unknown = sorted(used - set(names))
    assert not unknown, f"{rule['alert']} reads metrics nobody emits: {unknown}"


def test_the_alerts_cover_what_an_operator_must_hear_of() -> None:
    alerts = {rule["alert"] for rule in _rules()}
    for needed in (
        "CollectorSilent",
        "FilesFailing",
        "BacklogNotHealed",
        "ReconcileNotRunning",
        "SchedulerHeartbeatStopped",
        "DagImportErrors",
        "ReceiverErrors",
    ):
        assert needed in alerts


def test_prometheus_scrapes_the_stacks_metrics_ports() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    s = Settings()
    assert targets["cloudz-receiver"] == [
        f"127.0.0.1:{s.receiver_metrics_port + i}" for i in range(s.receiver_replicas)
    ]
    assert targets["cloudz-statsd"] == [f"127.0.0.1:{s.statsd_metrics_port}"]
    for rule in _rules():  # the jobs an alert names are the ones scraped
        if "job=~" in rule["expr"]:
            assert set(rule["expr"].split('job=~"')[1].split('"')[0].split("|")) <= set(targets)
