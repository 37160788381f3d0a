"""docker-compose.yaml: valid for the real ``docker compose``, nothing open by default, and the
same Airflow settings as the embedded stack.

- ``docker compose config`` (Compose v2, installed by ``scripts/ensure-compose``; it needs no
  Docker engine) must accept the file with ``deploy/compose.env.example``'s variables, with
  and without the ``emulators`` profile, and print no warning.
- Every published port but the collectors' endpoint is bound to loopback, and no secret has a
  default: ``${VAR:?…}`` makes compose refuse to start.
- The compose file and ``cloudz.stack.airflow_env`` configure the same ``AIRFLOW__*``
  settings, the same Google Cloud connection and the same behavioural ``CLOUDZ_*`` settings
  (pools, queues, the task timeout): a setting changed in one place only is a deployment that
  behaves differently from what the tests ran. They are read from ``docker compose config``
  (interpolated, as the containers get them), or from the YAML with its defaults if Compose
  is missing.
- airflow-init's script refuses passwords that would break a URL and a visibility timeout
  that is not twice the task timeout, and creates FAB's users with the passwords of .env,
  whatever they hold (run with a stand-in ``airflow``).
- Compose runs the production auth manager (FAB), not SimpleAuthManager.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from functools import cache
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
#: ``CLOUDZ_*`` settings the DAGs and the cluster policy read: compose must pass each into the
#: Airflow containers, with the embedded stack's default where the stack has the setting
BEHAVIOURAL_CLOUDZ = (
    "CLOUDZ_DATASET",
    "CLOUDZ_TABLE",
    "CLOUDZ_RIB_QUEUE",
    "CLOUDZ_RIB_POOL",
    "CLOUDZ_RIB_SLOTS",
    "CLOUDZ_TABLE_WRITES_POOL",
    "CLOUDZ_TABLE_WRITES_SLOTS",
    "CLOUDZ_BACKFILL_POOL",
    "CLOUDZ_BACKFILL_SLOTS",
    "CLOUDZ_BACKFILL_QUEUE",
    "CLOUDZ_RECONCILE_QUEUE",
    "CLOUDZ_MIRROR_QUEUE",
    "CLOUDZ_TASK_TIMEOUT_SECONDS",
)
#: the workers running as a Google account of their own (their key's variable), not the
#: shared one: the reconcile's and the mirror's (docs/deploy.md "Service accounts")
ACCOUNT_WORKERS = {
    "worker-reconcile": "RECONCILE_GOOGLE_APPLICATION_CREDENTIALS",
    "worker-mirror": "MIRROR_GOOGLE_APPLICATION_CREDENTIALS",
    "worker-backfill": "MIRROR_GOOGLE_APPLICATION_CREDENTIALS",
}
#: services that must never publish a port at all (secrets or no auth behind them)
NEVER_PUBLISHED = {"broker", "postgres", "statsd", "receiver"}

#: ``AIRFLOW__*`` keys whose values belong to the deployment, not to the pipeline's behaviour:
#: (in the stack, in compose) — why they may differ
DEPLOYMENT_SPECIFIC = {
    "AIRFLOW__CORE__DAGS_FOLDER": "a path: the checkout vs the image's /opt/cloudz",
    "AIRFLOW__CORE__PLUGINS_FOLDER": "a path",
    # the embedded stack is for development: SimpleAuthManager, its users in the settings and
    # a passwords file; production runs FAB (users in the database, created by airflow-init)
    "AIRFLOW__CORE__AUTH_MANAGER": "SimpleAuthManager (embedded) vs FabAuthManager (production)",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "SimpleAuthManager's users: embedded stack only",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "SimpleAuthManager's: embedded only",
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
    """``docker compose`` (the CLI plugin ``scripts/ensure-compose`` installs), a v2
    ``docker-compose`` on PATH, or the plugin binary run on its own (Compose v2 then takes
    ``docker-compose``'s arguments: ``… -f FILE config``), so no ``docker`` CLI is needed;
    None if none is there (Compose v1 reads the file differently)."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    plugins = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"
    if os.access(plugins / "docker-compose", os.X_OK):
        candidates.append([str(plugins / "docker-compose")])
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
    assert queues == {
        "worker-default": "default",
        "worker-ribs": "default,ribs",
        # only with CLOUDZ_BACKFILL_QUEUE set (its profile, for a big backfill)
        "worker-backfill": "${CLOUDZ_BACKFILL_QUEUE:-backfill}",
        # only with their DAG's queue set (profile "accounts": a key of their own each)
        "worker-reconcile": "${CLOUDZ_RECONCILE_QUEUE:-reconcile}",
        "worker-mirror": "${CLOUDZ_MIRROR_QUEUE:-mirror}",
    }
    assert services["worker-backfill"]["profiles"] == ["backfill"]
    assert services["worker-reconcile"]["profiles"] == ["accounts"]
    assert services["worker-mirror"]["profiles"] == ["accounts"]
    env = _raw()["x-airflow-env"]
    assert env["CLOUDZ_RIB_QUEUE"] == Settings().rib_queue
    # off by default: one account on one host, every task on "default" as before
    assert env["CLOUDZ_RECONCILE_QUEUE"] == "${CLOUDZ_RECONCILE_QUEUE:-}"
    assert env["CLOUDZ_MIRROR_QUEUE"] == "${CLOUDZ_MIRROR_QUEUE:-}"
    for name in queues:
        assert "--skip-serve-logs" in services[name]["command"]
        # tasks use the api-server's execution API
        depends = services[name].get("depends_on") or _raw()["x-worker"]["depends_on"]
        assert depends["airflow-apiserver"] == {"condition": "service_healthy"}


def test_health_checks_are_light_and_keep_secrets_off_the_command_line() -> None:
    worker = _raw()["x-worker"]["healthcheck"]
    test = " ".join(worker["test"])
    # Celery's CLI with Airflow's app imports Airflow: seconds of CPU per check
    assert "airflow" not in test.replace("AIRFLOW__CELERY__BROKER_URL", "")
    assert 'os.environ["AIRFLOW__CELERY__BROKER_URL"]' in test
    assert "BROKER_PASSWORD" not in test
    # `airflow celery worker` without --celery-hostname: Celery's default node name
    assert '"celery@" + socket.gethostname()' in test
    for name, service in _services().items():
        if name.startswith("worker-"):
            assert "--celery-hostname" not in service["command"], name
    for name, job in (
        ("airflow-scheduler", "SchedulerJob"),
        ("airflow-dag-processor", "DagProcessorJob"),
        ("airflow-triggerer", "TriggererJob"),
    ):
        check = _services()[name]["healthcheck"]
        assert check["test"] == ["CMD", "airflow", "jobs", "check", "--job-type", job, "--local"]


def _init_script() -> str:
    """airflow-init's bash script as the container runs it (``$$`` is compose's ``$``)."""
    command = _services()["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"]
    return str(command[2]).replace("$$", "$")


def _run_init(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """The script with a stand-in ``airflow`` that logs its arguments, and the real python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "airflow"
    # one line per call, its arguments NUL-separated (a password may hold spaces or quotes)
    log = tmp_path / "airflow.log"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\0' \"$@\" >> {log}\necho >> {log}\n")
    fake.chmod(0o755)
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to(sys.executable)
    env = {
        k: _with_defaults(v)
        for k, v in {**_raw()["x-cloudz-env"], **_raw()["x-airflow-env"]}.items()
        if k != "<<"
    }
    env.update(
        PATH=f"{bin_dir}:/usr/bin:/bin",
        ADMIN_PASSWORD='ad"min\\pw',
        CLOUDZ_AIRFLOW_PASSWORD="r'x\"",
        POSTGRES_PASSWORD="Abc-123_x.y~z",
        BROKER_PASSWORD="0123abcdef",
        CLOUDZ_PROVISION="0",
    )
    env.update(overrides)
    return subprocess.run(
        ["bash", "-c", _init_script()], env=env, capture_output=True, text=True, check=False
    )


def _calls(log: Path) -> list[list[str]]:
    """The stand-in ``airflow``'s calls, each as its argument list."""
    return [line.split("\0")[:-1] for line in log.read_text().splitlines() if line]


def test_airflow_init_creates_the_fab_users_and_every_pool(tmp_path: Path) -> None:
    done = _run_init(tmp_path)
    assert done.returncode == 0, done.stderr
    calls = _calls(tmp_path / "airflow.log")
    assert calls[0] == ["db", "migrate"]

    def option(call: list[str], name: str) -> str:
        return call[call.index(name) + 1]

    created = {
        option(c, "--username"): (option(c, "--role"), option(c, "--password"))
        for c in calls
        if c[:2] == ["users", "create"]
    }
    # the passwords reach FAB as .env has them, quotes and backslashes included
    assert created == {"admin": ("Admin", 'ad"min\\pw'), "receiver": ("User", "r'x\"")}
    reset = {
        option(c, "--username"): option(c, "--password")
        for c in calls
        if c[:2] == ["users", "reset-password"]
    }
    assert reset == {name: password for name, (_, password) in created.items()}
    assert _raw()["x-airflow-env"]["CLOUDZ_RIB_QUEUE"] == "ribs"
    pools = {c[2]: int(c[3]) for c in calls if c[:2] == ["pools", "set"]}
    assert pools == {"routes_table_writes": 16, "backfill": 2, "ribs": 4}
    raised = tmp_path / "raised"
    raised.mkdir()
    assert _run_init(raised, CLOUDZ_BACKFILL_SLOTS="48", CLOUDZ_RIB_SLOTS="8").returncode == 0
    pools = {c[2]: int(c[3]) for c in _calls(raised / "airflow.log") if c[:2] == ["pools", "set"]}
    assert pools["backfill"] == 48 and pools["ribs"] == 8


def test_compose_runs_the_production_auth_manager() -> None:
    env = _raw()["x-airflow-env"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == (
        "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    )
    assert not [k for k in env if "SIMPLE_AUTH_MANAGER" in k]
    # the receiver logs in as the user airflow-init creates
    assert Settings().airflow_user == "receiver"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"POSTGRES_PASSWORD": "pa@ss"}, "POSTGRES_PASSWORD"),
        ({"POSTGRES_PASSWORD": "pa/ss"}, "POSTGRES_PASSWORD"),
        ({"BROKER_PASSWORD": "not-hex"}, "BROKER_PASSWORD"),
        ({"CLOUDZ_TASK_TIMEOUT_SECONDS": "7200"}, "CLOUDZ_VISIBILITY_TIMEOUT"),
    ],
)
def test_airflow_init_refuses_what_would_break_later(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    done = _run_init(tmp_path, **overrides)
    assert done.returncode == 1
    assert message in done.stderr
    assert not (tmp_path / "airflow.log").exists(), "it went on to migrate"


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


def _with_defaults(value: Any) -> str:
    """A YAML value as compose would give it with nothing set in .env: ``${VAR:-x}`` → x."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


@cache
def _scheduler_env() -> dict[str, str]:
    """The scheduler's environment with the example .env and the emulators profile (what the
    embedded stack runs against): from ``docker compose config``, or from the YAML with its
    defaults if Compose is missing (then secrets and ``${VAR:?…}`` stay as written)."""
    import tempfile

    if _compose_command() is not None:
        with tempfile.TemporaryDirectory() as tmp:
            config = _config(
                Path(tmp),
                "--profile",
                "emulators",
                CLOUDZ_GCP_PROJECT="local-project",
                STORAGE_EMULATOR_HOST="http://gcs:4443",
                BIGQUERY_EMULATOR_HOST="http://bigquery:9050",
                CLOUDZ_GCP_ANONYMOUS="true",
            )
        scheduler = config["services"]["airflow-scheduler"]
        return {k: str(v) for k, v in scheduler["environment"].items()}
    env = {k: str(v) for k, v in {**_raw()["x-cloudz-env"], **_raw()["x-airflow-env"]}.items()}
    env.pop("<<", None)
    gcp = env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"].replace("${CLOUDZ_GCP_PROJECT}", "local-project")
    env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = gcp.replace("${CLOUDZ_GCP_ANONYMOUS:-false}", "true")
    return {k: _with_defaults(v) for k, v in env.items()}


def _compose_airflow_env() -> dict[str, str]:
    return {k: v for k, v in _scheduler_env().items() if k.startswith("AIRFLOW__")}


def _stack_env(tmp_path: Path) -> dict[str, str]:
    compose = _scheduler_env()
    # the stack's slots follow the machine's cores: give it the compose file's numbers
    sizing: dict[str, Any] = {
        "airflow_parallelism": int(compose["AIRFLOW__CORE__PARALLELISM"]),
    }
    if "rib_slots" in {f.name for f in fields(Settings)}:
        sizing["rib_slots"] = int(compose["CLOUDZ_RIB_SLOTS"])
    return airflow_env(Settings(executor="celery", state_dir=tmp_path, **sizing))


def test_compose_and_the_embedded_stack_configure_the_same_airflow(tmp_path: Path) -> None:
    compose = _compose_airflow_env()
    stack_env = _stack_env(tmp_path)
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


def test_compose_and_the_stack_use_the_same_google_cloud_connection(tmp_path: Path) -> None:
    def conn(env: dict[str, str]) -> dict[str, Any]:
        value = dict(json.loads(env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"]))
        value["extra"] = {k: v for k, v in value["extra"].items() if k != "project"}
        return value

    assert conn(_scheduler_env()) == conn(_stack_env(tmp_path))


def test_compose_passes_the_stacks_behavioural_settings(tmp_path: Path) -> None:
    compose = _scheduler_env()
    stack = _stack_env(tmp_path)
    missing = [k for k in BEHAVIOURAL_CLOUDZ if k not in compose]
    assert not missing, f"not passed into the Airflow containers: {missing}"
    both = [k for k in BEHAVIOURAL_CLOUDZ if k in stack]
    # the settings the stack has had from the start are compared in any case
    assert {"CLOUDZ_RIB_QUEUE", "CLOUDZ_TABLE_WRITES_SLOTS", "CLOUDZ_BACKFILL_SLOTS"} <= set(both)
    differ = {k: (stack[k], compose[k]) for k in both if stack[k] != compose[k]}
    assert not differ, f"(stack, compose) differ: {differ}"


def test_the_visibility_timeout_is_twice_the_task_timeout() -> None:
    env = _scheduler_env()
    timeout = int(env["CLOUDZ_TASK_TIMEOUT_SECONDS"])
    assert int(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"]) == 2 * timeout
    # both come from .env: their defaults agree, and airflow-init refuses a pair that does not
    # (test_airflow_init_refuses_what_would_break_later)
    anchor = _raw()["x-airflow-env"]
    task = re.fullmatch(
        r"\$\{CLOUDZ_TASK_TIMEOUT_SECONDS:-(\d+)\}", anchor["CLOUDZ_TASK_TIMEOUT_SECONDS"]
    )
    visibility = re.fullmatch(
        r"\$\{CLOUDZ_VISIBILITY_TIMEOUT:-(\d+)\}",
        anchor["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"],
    )
    assert task and visibility
    assert int(visibility[1]) == 2 * int(task[1]) == 2 * Settings().task_timeout_seconds


def test_the_rib_pool_has_the_ribs_workers_slots() -> None:
    services = _services()
    command = services["worker-ribs"]["command"]
    concurrency = _with_defaults(command[command.index("--concurrency") + 1])
    replicas = _with_defaults(services["worker-ribs"]["deploy"]["replicas"])
    slots = _with_defaults(_raw()["x-airflow-env"]["CLOUDZ_RIB_SLOTS"])
    assert int(slots) == int(concurrency) * int(replicas)


def test_every_airflow_container_gets_the_shared_settings(tmp_path: Path) -> None:
    anchor = {k: str(v) for k, v in _raw()["x-airflow-env"].items() if k != "<<"}
    for name, service in _services().items():
        if name.startswith(("airflow-", "worker-")):
            env = service["environment"]
            if "<<" in env:
                env = {**env["<<"], **env}
            own = ACCOUNT_WORKERS.get(name)
            for key, value in anchor.items():
                if own and key == "GOOGLE_APPLICATION_CREDENTIALS":
                    value = f"${{{own}:-{value}}}"  # its own key, else the shared one
                assert str(env.get(key)) == value, f"{name}: {key}"


def test_the_account_workers_take_their_own_key(tmp_path: Path) -> None:
    """With the profile "accounts" and a key named for each, the reconcile's and the mirror's
    workers run as their own Google accounts, the others as the shared one; unnamed, all
    share it."""
    config = _config(
        tmp_path,
        "--profile",
        "accounts",
        "--profile",
        "backfill",
        GOOGLE_APPLICATION_CREDENTIALS="/run/gcp/worker-key.json",
        RECONCILE_GOOGLE_APPLICATION_CREDENTIALS="/run/gcp/reconcile-key.json",
        MIRROR_GOOGLE_APPLICATION_CREDENTIALS="/run/gcp/mirror-key.json",
        CLOUDZ_RECONCILE_QUEUE="reconcile",
        CLOUDZ_MIRROR_QUEUE="mirror",
    )
    keys = {
        name: service["environment"]["GOOGLE_APPLICATION_CREDENTIALS"]
        for name, service in config["services"].items()
        if name.startswith("worker-")
    }
    assert keys == {
        "worker-default": "/run/gcp/worker-key.json",
        "worker-ribs": "/run/gcp/worker-key.json",
        "worker-reconcile": "/run/gcp/reconcile-key.json",
        "worker-mirror": "/run/gcp/mirror-key.json",
        "worker-backfill": "/run/gcp/mirror-key.json",
    }
    scheduler = config["services"]["airflow-scheduler"]["environment"]
    assert (scheduler["CLOUDZ_RECONCILE_QUEUE"], scheduler["CLOUDZ_MIRROR_QUEUE"]) == (
        "reconcile",
        "mirror",
    )
    shared = _config(
        tmp_path, "--profile", "accounts", GOOGLE_APPLICATION_CREDENTIALS="/run/gcp/k.json"
    )
    assert {
        s["environment"]["GOOGLE_APPLICATION_CREDENTIALS"]
        for name, s in shared["services"].items()
        if name.startswith("worker-")
    } == {"/run/gcp/k.json"}
