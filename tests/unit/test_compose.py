"""docker-compose.yaml: valid for the real ``docker compose``, nothing open by default, and the
same Airflow settings as the embedded stack.

- ``docker compose config`` (Compose v2, installed by ``scripts/ensure-compose``; it needs no
  Docker engine) must accept the file with ``deploy/compose.env.example``'s variables, with
  and without the ``emulators`` profile, and print no warning.
- Every published port but the collectors' endpoint is bound to loopback, and no secret has a
  default: ``${VAR:?…}`` makes compose refuse to start.
- The compose file and ``cloudz.stack.airflow_env`` configure the same ``AIRFLOW__*``
  settings: a setting changed in one place only is a deployment that behaves differently from
  what the tests ran.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.stack.airflow_env import airflow_env

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
ENV_EXAMPLE = PROJECT_ROOT / "deploy" / "compose.env.example"
DASHBOARDS = PROJECT_ROOT / "deploy" / "grafana" / "dashboards"
#: the one service collectors reach from the internet
PUBLIC = {"receiver-lb"}
#: services that must never publish a port at all (secrets or no auth behind them)
NEVER_PUBLISHED = {"broker", "postgres", "statsd", "receiver"}

#: ``AIRFLOW__*`` keys whose values belong to the deployment, not to the pipeline's behaviour:
#: (in the stack, in compose) — why they may differ
DEPLOYMENT_SPECIFIC = {
    "AIRFLOW__CORE__DAGS_FOLDER": "a path: the checkout vs the image's /opt/cloudz",
    "AIRFLOW__CORE__PLUGINS_FOLDER": "a path",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "a path",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "a URL: loopback vs the api-server's service name",
    "AIRFLOW__API__BASE_URL": "a URL",
    "AIRFLOW__API__HOST": "loopback vs all addresses of the container",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "the database's address and password",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": "the database's address and password",
    "AIRFLOW__CELERY__BROKER_URL": "the broker's address and password",
    "AIRFLOW__METRICS__STATSD_HOST": "the StatsD receiver's address",
    "AIRFLOW__METRICS__STATSD_PORT": "the stack's bridge on 8125, statsd-exporter's 9125",
    "AIRFLOW__CORE__FERNET_KEY": "a secret",
    "AIRFLOW__API__SECRET_KEY": "a secret",
    "AIRFLOW__API_AUTH__JWT_SECRET": "a secret",
    # embedded only: two workers on one host need their name in the task instances; in
    # containers every worker has a hostname of its own
    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "embedded stack only (workers sharing one host)",
}


def _raw() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _services() -> dict[str, Any]:
    return dict(_raw()["services"])


def _compose_command() -> list[str] | None:
    """``docker compose`` (the CLI plugin ``scripts/ensure-compose`` installs), or a v2
    ``docker-compose`` on PATH; None if neither (Compose v1 reads the file differently)."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        done = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, check=False
        )
        if done.returncode == 0 and done.stdout.strip().lstrip("v").startswith("2."):
            return command
    return None


def _example_env(tmp_path: Path, **extra: str) -> Path:
    """compose.env.example with a placeholder in every empty value (secrets must be set)."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if re.fullmatch(r"[A-Z_]+=", line):
            line += "placeholder0123456789abcdef"
        lines.append(line)
    lines += [f"{k}={v}" for k, v in extra.items()]
    path = tmp_path / "compose.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(tmp_path: Path, *args: str, **extra: str) -> dict[str, Any]:
    command = _compose_command()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("Docker Compose v2 is missing: scripts/ensure-compose installs it")
        pytest.skip("Docker Compose v2 is missing: run scripts/ensure-compose")
    # a clean environment: a variable of the caller's shell must not stand in for the file's
    env = {k: os.environ[k] for k in ("PATH", "HOME", "DOCKER_CONFIG") if k in os.environ}
    done = subprocess.run(
        [
            *command,
            "--project-directory",
            str(PROJECT_ROOT),
            "-f",
            str(COMPOSE),
            "--env-file",
            str(_example_env(tmp_path, **extra)),
            *args,
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", f"docker compose config warned:\n{done.stderr}"
    return dict(json.loads(done.stdout))


def test_docker_compose_config_accepts_the_file_with_the_example_env(tmp_path: Path) -> None:
    config = _config(tmp_path)
    services = config["services"]
    assert {"gcs", "bigquery"}.isdisjoint(services), "emulators run only with their profile"
    for name in ("broker", "worker-default", "worker-ribs", "prometheus", "grafana"):
        assert name in services
    env = services["worker-default"]["environment"]
    assert env["STORAGE_EMULATOR_HOST"] == "" and env["BIGQUERY_EMULATOR_HOST"] == ""
    assert json.loads(env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"])["extra"]["is_anonymous"] is False


def test_docker_compose_config_with_the_emulators_profile(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "--profile",
        "emulators",
        STORAGE_EMULATOR_HOST="http://gcs:4443",
        BIGQUERY_EMULATOR_HOST="http://bigquery:9050",
        CLOUDZ_GCP_ANONYMOUS="true",
    )
    services = config["services"]
    assert {"gcs", "bigquery"} <= set(services)
    env = services["airflow-scheduler"]["environment"]
    assert env["STORAGE_EMULATOR_HOST"] == "http://gcs:4443"
    assert json.loads(env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"])["extra"]["is_anonymous"] is True


def test_only_the_receiver_is_published_beyond_loopback() -> None:
    for name, service in _services().items():
        ports = service.get("ports", [])
        if name in NEVER_PUBLISHED:
            assert not ports, f"{name} publishes {ports}"
        for port in ports:
            if name in PUBLIC:
                continue
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every address"


def test_no_secret_has_a_default() -> None:
    text = COMPOSE.read_text()
    found = re.findall(r"\$\{([A-Z_]*(?:PASSWORD|SECRET|SECRET_KEY|FERNET_KEY))(:[^}]*)?\}", text)
    assert {name for name, _ in found} >= {
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_API_SECRET_KEY",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_ADMIN_PASSWORD",
        "CLOUDZ_AIRFLOW_PASSWORD",
        "POSTGRES_PASSWORD",
        "BROKER_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    }
    for name, rest in found:
        assert rest.startswith(":?"), f"${{{name}{rest}}} has a default or may be empty"
    assert not re.search(r"(PASSWORD|SECRET|KEY)[A-Z_]*: [a-z0-9]", text), "a literal secret"


def test_grafana_and_the_broker_need_credentials() -> None:
    services = _services()
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    broker = services["broker"]
    assert "requirepass" in " ".join(broker["command"])
    # the password reaches valkey through a file, not its command line
    assert "--requirepass" not in " ".join(broker["command"])


def test_receivers_serve_tls_with_mounted_certificate_and_credentials() -> None:
    receiver = _services()["receiver"]
    env = receiver["environment"]
    assert "CLOUDZ_RECEIVER_PLAINTEXT" not in env
    for key in (
        "CLOUDZ_RECEIVER_TLS_CERT",
        "CLOUDZ_RECEIVER_TLS_KEY",
        "CLOUDZ_RECEIVER_CREDENTIALS",
    ):
        assert Path(env[key]).parent == Path("/run/cloudz"), key
    assert any(str(v).endswith(":/run/cloudz:ro") for v in receiver["volumes"])


def test_the_load_balancer_health_checks_the_replicas_with_grpc_health() -> None:
    from ingest_service.server import SERVICE_NAME

    envoy = yaml.safe_load((PROJECT_ROOT / "deploy" / "envoy.yaml").read_text())
    (cluster,) = envoy["static_resources"]["clusters"]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "receiver", "port_value": 50051}
    (check,) = cluster["health_checks"]
    assert check["grpc_health_check"]["service_name"] == SERVICE_NAME
    # the check speaks TLS (the replicas serve nothing else); the collectors' bytes pass through
    sockets = {m["name"]: m for m in cluster["transport_socket_matches"]}
    tls = next(
        m for m in sockets.values() if m["match"] == check["transport_socket_match_criteria"]
    )
    assert tls["transport_socket"]["name"] == "envoy.transport_sockets.tls"
    passthrough = next(m for m in sockets.values() if m["match"] == {})
    assert passthrough["transport_socket"]["name"] == "envoy.transport_sockets.raw_buffer"
    assert envoy["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_workers_serve_the_queues_the_cluster_policy_uses() -> None:
    services = _services()
    queues = {
        name: s["command"][s["command"].index("--queues") + 1]
        for name, s in services.items()
        if name.startswith("worker-")
    }
    assert queues == {"worker-default": "default", "worker-ribs": "default,ribs"}
    env = _raw()["x-cloudz-env"]
    assert env["CLOUDZ_RIB_QUEUE"] == Settings().rib_queue
    for name in queues:
        assert "--skip-serve-logs" in services[name]["command"]


def test_prometheus_loads_the_repos_alert_rules() -> None:
    prometheus = _services()["prometheus"]
    mounts = prometheus["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "compose.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    # the alert MetricsTargetDown names these jobs
    assert jobs == {"cloudz-receiver", "cloudz-statsd"}


def test_every_dashboard_metric_is_one_the_project_emits() -> None:
    from test_prometheus_rules import _metric_names, emitted

    known = emitted()
    panels = json.loads((DASHBOARDS / "cloudz-pipeline.json").read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    assert len(exprs) >= 20
    for expr in exprs:
        for name in _metric_names(expr):
            assert name in known, f"{name} (in {expr}) is emitted by nothing here"
    read = {n for e in exprs for n in _metric_names(e)}
    # what the issue asks the dashboard to show
    for name in (
        "cloudz_uploads_total",
        "cloudz_grpc_calls_total",
        "airflow_ti_successes_total",
        "airflow_ti_failures_total",
        "airflow_task_duration_seconds_sum",
        "airflow_executor_queued_tasks",
        "airflow_pool_queued_slots",
        "cloudz_reconcile_backlog",
        "cloudz_collector_silent",
    ):
        assert name in read, name


def _compose_airflow_env() -> dict[str, str]:
    anchor = dict(_raw()["x-airflow-env"])
    anchor.pop("<<", None)
    return {k: str(v) for k, v in anchor.items() if k.startswith("AIRFLOW__")}


def test_compose_and_the_embedded_stack_configure_the_same_airflow(tmp_path: Path) -> None:
    compose = _compose_airflow_env()
    # the stack's slots follow the machine's cores: give it the compose file's number
    stack_env = airflow_env(
        Settings(
            executor="celery",
            state_dir=tmp_path,
            airflow_parallelism=int(compose["AIRFLOW__CORE__PARALLELISM"]),
        )
    )
    stack = {k: v for k, v in stack_env.items() if k.startswith("AIRFLOW__")}
    only_stack = set(stack) - set(compose) - DEPLOYMENT_SPECIFIC.keys()
    only_compose = set(compose) - set(stack) - DEPLOYMENT_SPECIFIC.keys()
    assert not only_stack, f"set by the embedded stack only: {sorted(only_stack)}"
    assert not only_compose, f"set by docker-compose.yaml only: {sorted(only_compose)}"
    differ = {
        k: (stack[k], compose[k])
        for k in set(stack) & set(compose)
        if k not in DEPLOYMENT_SPECIFIC and stack[k] != compose[k]
    }
    assert not differ, f"(stack, compose) differ: {differ}"
    # the allow-list names only keys that exist somewhere, so it cannot hide a typo
    assert DEPLOYMENT_SPECIFIC.keys() <= set(stack) | set(compose)


def test_every_airflow_container_gets_the_shared_settings(tmp_path: Path) -> None:
    anchor = _compose_airflow_env()
    for name, service in _services().items():
        if name.startswith(("airflow-", "worker-")):
            env = service["environment"]
            if "<<" in env:
                env = {**env["<<"], **env}
            for key, value in anchor.items():
                assert str(env.get(key)) == value, f"{name}: {key}"
