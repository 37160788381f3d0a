"""deploy/helm/airflow-values.yaml: valid for the official Airflow chart, and the same Airflow as
the embedded stack.

- Our values merged over the chart's default ``values.yaml`` as Helm merges them (maps deep,
  lists and scalars replaced, ``null`` deletes) pass the chart's ``values.schema.json``
  (JSON Schema draft-07, local ``$ref``s only), and so does each worker set merged over
  ``workers.celery`` (the schema leaves a set's keys free; the chart merges them over the
  parent's). A mutated copy (an unknown key, a wrong type) fails: the check can fail.
- The Airflow settings the values give (``config`` as ``AIRFLOW__SECTION__KEY``, ``env``,
  the chart's secret variables) equal the embedded stack's (``cloudz.stack.airflow_env``) key
  by key, except those test_compose.py lists as the deployment's; the behavioural ``CLOUDZ_*``
  settings too. The worker sets serve the cluster policy's queues, the ``ribs`` pool has the
  ribs set's slots, the create-user job makes FAB's users and every pool, each component runs
  as the Terraform account deploy_permissions gives it, and the image is the Dockerfile's.

The chart's two files are not in this repository (files of public repositories stay out of it):
they are read from ``../shared/airflow-chart/`` (SOURCE.md there names the chart's version and
commit); without them the tests skip, naming the path.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml
from test_compose import BEHAVIOURAL_CLOUDZ, DEPLOYMENT_SPECIFIC

from cloudz import deploy_permissions, pipeline_contract
from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.stack.airflow_env import AIRFLOW_CONFIG_DIR, airflow_env

VALUES = PROJECT_ROOT / "deploy" / "helm" / "airflow-values.yaml"
CHART = PROJECT_ROOT.parent / "shared" / "airflow-chart"
CHART_VERSION = "1.21.0"

#: ``AIRFLOW__*`` keys the chart's deployment sets and the embedded stack does not, and why
HELM_ONLY = {
    "AIRFLOW__LOGGING__REMOTE_LOGGING": "workers on other nodes: task logs in GCS",
    "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "the logs bucket (deploy/terraform)",
    "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "the GCS connection the logs are written with",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "the stack passes --concurrency per worker instead",
    "AIRFLOW__LOGGING__DELETE_LOCAL_LOGS": "no log volume: the local copy goes once uploaded",
}

#: the Terraform account each chart component runs as (workload identity)
ACCOUNTS = {
    "scheduler": "airflow",
    "dagProcessor": "airflow",
    "triggerer": "airflow",
    "migrateDatabaseJob": "airflow",
    "createUserJob": "airflow",
    "apiServer": "api_server",
}
WORKER_ACCOUNTS = {
    "default": "worker",
    "ribs": "worker",
    "reconcile": "reconcile",
    "mirror": "mirror",
    "backfill": "mirror",
}
#: the bench's DAG, never deployed: the image's build context leaves it out (.dockerignore)
BENCH_DAG = "per_file_floor"
RIB = "route-views2/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2"
UPDATES = "route-views2/bgpdata/2026.11/UPDATES/updates.20261101.0015.bz2"


def _chart_file(name: str) -> Path:
    path = CHART / name
    if not path.exists():
        pytest.skip(
            f"{path} is missing: the Airflow chart's {name} (chart {CHART_VERSION}) is kept "
            "outside the repository; docs/deploy.md says how to put it there"
        )
    return path


def helm_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of a values file over the chart's defaults: maps merged key by key,
    anything else (lists included) replaced; a ``null`` removes the default's key."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif key in out:
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _ours() -> dict[str, Any]:
    return dict(yaml.safe_load(VALUES.read_text()))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return dict(json.loads(_chart_file("values.schema.json").read_text()))


@pytest.fixture(scope="module")
def merged() -> dict[str, Any]:
    defaults = yaml.safe_load(_chart_file("values.yaml").read_text())
    return dict(helm_merge(defaults, _ours()))


def schema_errors(schema: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """The chart schema's complaints about ``values`` (draft-07, as its ``$schema`` says)."""
    from jsonschema import Draft7Validator

    assert schema["$schema"].startswith("http://json-schema.org/draft-07/")
    validator = Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(values)
    )


def _without_nulls(values: dict[str, Any]) -> dict[str, Any]:
    """The chart's ``removeNilFields``: a ``null`` in ``workers.celery`` leaves the parent's."""
    return {
        k: _without_nulls(v) if isinstance(v, dict) else v
        for k, v in values.items()
        if v is not None
    }


def _worker_sets(merged: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each worker set as the chart renders it (``workersMergeValues``): ``workers``, then
    ``workers.celery`` without its nulls, then the set's own keys."""
    root = {k: v for k, v in merged["workers"].items() if k not in ("celery", "kubernetes")}
    celery = {k: v for k, v in merged["workers"]["celery"].items() if k != "sets"}
    base = helm_merge(root, _without_nulls(celery))
    sets = {"default": base} if celery.get("enableDefault", True) else {}
    for item in merged["workers"]["celery"]["sets"]:
        sets[item["name"]] = helm_merge(base, {k: v for k, v in item.items() if k != "name"})
    return sets


def test_the_values_pass_the_charts_schema(schema: dict[str, Any], merged: dict[str, Any]) -> None:
    assert schema_errors(schema, merged) == []
    # the schema lets unknown top-level keys and a set's keys through; we do not
    assert set(_ours()) <= set(schema["properties"])
    celery_keys = set(schema["properties"]["workers"]["properties"]["celery"]["properties"])
    for item in _ours()["workers"]["celery"]["sets"]:
        assert set(item) - {"name"} <= celery_keys, item["name"]
    for name, worker_set in _worker_sets(merged).items():
        one = copy.deepcopy(merged)
        one["workers"]["celery"] = {**worker_set, "sets": []}
        assert schema_errors(schema, one) == [], name


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("workers", "replica"), 2, "Additional properties are not allowed ('replica'"),
        (("workers", "celery", "replicas"), "two", "'two' is not of type 'integer', 'null'"),
        (("scheduler", "serviceAccount", "annotations"), ["x"], "is not of type 'object'"),
        (("executor",), "CeleryExecuter", "CeleryExecuter"),
    ],
)
def test_a_wrong_key_or_type_is_refused(
    schema: dict[str, Any],
    merged: dict[str, Any],
    path: tuple[str, ...],
    value: Any,
    complaint: str,
) -> None:
    wrong = copy.deepcopy(merged)
    node = wrong
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = schema_errors(schema, wrong)
    assert any(complaint in e for e in errors), errors


def helm_airflow_settings(merged: dict[str, Any]) -> dict[str, str]:
    """What Airflow reads in the chart's containers: ``config`` as ``AIRFLOW__S__K`` (the
    chart writes it to airflow.cfg), overridden by the environment: ``env``, ``secret`` and
    the chart's own secret variables (their values are ``<secret name/key>``)."""
    out = {
        f"AIRFLOW__{section.upper()}__{key.upper()}": str(value)
        for section, keys in merged["config"].items()
        for key, value in keys.items()
    }
    builtin = {
        "AIRFLOW__CORE__FERNET_KEY": f"{merged['fernetKeySecretName']}/fernet-key",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{merged['data']['metadataSecretName']}/connection",
        "AIRFLOW__API__SECRET_KEY": f"{merged['apiSecretKeySecretName']}/api-secret-key",
        "AIRFLOW__API_AUTH__JWT_SECRET": f"{merged['jwtSecretName']}/jwt-secret",
        "AIRFLOW__CELERY__BROKER_URL": f"{merged['data']['brokerUrlSecretName']}/connection",
    }
    for name, ref in builtin.items():
        if merged.get("enableBuiltInSecretEnvVars", {}).get(name):
            out[name] = f"<{ref}>"
    out.update({e["name"]: e["value"] for e in merged["env"]})
    out.update({s["envName"]: f"<{s['secretName']}/{s['secretKey']}>" for s in merged["secret"]})
    return out


def _stack_env(tmp_path: Path) -> dict[str, str]:
    sizing: dict[str, Any] = {"airflow_parallelism": 32}
    if "rib_slots" in {f.name for f in fields(Settings)}:
        sizing["rib_slots"] = 4
    return airflow_env(Settings(executor="celery", state_dir=tmp_path, **sizing))


def test_the_chart_and_the_embedded_stack_configure_the_same_airflow(
    merged: dict[str, Any], tmp_path: Path
) -> None:
    helm = {k: v for k, v in helm_airflow_settings(merged).items() if k.startswith("AIRFLOW__")}
    stack = {k: v for k, v in _stack_env(tmp_path).items() if k.startswith("AIRFLOW__")}
    missing = set(stack) - set(helm) - DEPLOYMENT_SPECIFIC.keys()
    assert not missing, f"set by the embedded stack, not by the chart's values: {sorted(missing)}"
    ours = helm_airflow_settings(
        {"data": {}, **helm_merge({"config": {}, "env": [], "secret": []}, _ours())}
    )
    only_helm = {k for k in ours if k.startswith("AIRFLOW__")} - set(stack)
    only_helm -= DEPLOYMENT_SPECIFIC.keys() | HELM_ONLY.keys()
    assert not only_helm, f"set by the chart's values only: {sorted(only_helm)}"
    differ = {
        k: (stack[k], helm[k])
        for k in set(stack) & set(helm)
        if k not in DEPLOYMENT_SPECIFIC and stack[k] != helm[k]
    }
    assert not differ, f"(stack, chart) differ: {differ}"

    # the same Google Cloud connection, the project aside
    def conn(value: str) -> dict[str, Any]:
        parsed = dict(json.loads(value))
        parsed["extra"] = {k: v for k, v in parsed["extra"].items() if k != "project"}
        return parsed

    env = helm_airflow_settings(merged)
    stack_all = _stack_env(tmp_path)
    assert conn(env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"]) == {
        **conn(stack_all["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"]),
        "extra": {"is_anonymous": False},  # the emulators' anonymous access: stack only
    }
    assert (
        "AIRFLOW_CONN_CLOUDZ_METADATA_DB" in stack_all and "AIRFLOW_CONN_CLOUDZ_METADATA_DB" in env
    )
    # the executor's queue and the broker's visibility timeout follow the task timeout
    timeout = int(env["CLOUDZ_TASK_TIMEOUT_SECONDS"])
    assert int(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"]) == 2 * timeout
    assert merged["executor"] == env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_a_changed_setting_is_caught(merged: dict[str, Any], tmp_path: Path) -> None:
    changed = copy.deepcopy(merged)
    changed["config"]["scheduler"]["task_instance_heartbeat_timeout"] = 300
    helm = helm_airflow_settings(changed)
    stack = _stack_env(tmp_path)
    key = "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"
    assert stack[key] == helm_airflow_settings(merged)[key] != helm[key]


def test_the_chart_passes_the_stacks_behavioural_settings(
    merged: dict[str, Any], tmp_path: Path
) -> None:
    env = {e["name"]: e["value"] for e in merged["env"]}
    stack = _stack_env(tmp_path)
    missing = [k for k in BEHAVIOURAL_CLOUDZ if k not in env]
    assert not missing, f"not passed into the Airflow containers: {missing}"
    differ = {
        k: (stack[k], env[k]) for k in BEHAVIOURAL_CLOUDZ if k in stack and stack[k] != env[k]
    }
    assert not differ, f"(stack, chart) differ: {differ}"


def _concurrency(merged: dict[str, Any], worker_set: dict[str, Any]) -> int:
    env = {e["name"]: e["value"] for e in worker_set.get("env") or []}
    return int(
        env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY")
        or merged["config"]["celery"]["worker_concurrency"]
    )


def test_a_worker_set_per_queue_and_the_rib_pool_has_its_slots(merged: dict[str, Any]) -> None:
    sets = _worker_sets(merged)
    queues = {name: s["queue"] for name, s in sets.items()}
    assert queues == {
        "default": "default",
        "ribs": "default,ribs",
        "reconcile": "reconcile",
        "mirror": "mirror",
        "backfill": "backfill",
    }
    env = {e["name"]: e["value"] for e in merged["env"]}
    assert env["CLOUDZ_RIB_QUEUE"] == Settings().rib_queue == "ribs"
    assert merged["config"]["operators"]["default_queue"] == "default"
    ribs = sets["ribs"]
    assert int(env["CLOUDZ_RIB_SLOTS"]) == ribs["replicas"] * _concurrency(merged, ribs)
    # the scheduler's slots cover every live worker's
    live = sum(s["replicas"] * _concurrency(merged, s) for s in sets.values())
    assert live <= int(merged["config"]["core"]["parallelism"])
    # no bench DAG: the DAGs are the image's, whose build context leaves it out
    assert merged["config"]["core"]["dags_folder"] == "/opt/cloudz/dags"
    assert "dags/per_file_floor.py" in (PROJECT_ROOT / ".dockerignore").read_text().split()


def test_every_component_runs_as_its_terraform_account(merged: dict[str, Any]) -> None:
    def account(annotations: dict[str, str]) -> str:
        email = annotations["iam.gke.io/gcp-service-account"]
        found = re.fullmatch(r"cloudz-([a-z-]+)@PROJECT\.iam\.gserviceaccount\.com", email)
        assert found, email
        return found.group(1).replace("-", "_")

    for component, want in ACCOUNTS.items():
        assert account(merged[component]["serviceAccount"]["annotations"]) == want, component
    for name, worker_set in _worker_sets(merged).items():
        assert account(worker_set["serviceAccount"]["annotations"]) == WORKER_ACCOUNTS[name], name
    assert set(ACCOUNTS.values()) | set(WORKER_ACCOUNTS.values()) <= set(
        deploy_permissions.ACCOUNTS
    )


def test_the_image_is_the_projects(merged: dict[str, Any]) -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    uid = re.search(r"useradd [^\n]*--uid ([0-9]+)", dockerfile)
    assert uid and int(uid.group(1)) == merged["uid"]
    assert f"AIRFLOW_HOME={merged['airflowHome']}" in dockerfile
    assert f"AIRFLOW__CORE__DAGS_FOLDER={merged['config']['core']['dags_folder']}" in dockerfile
    lock = (PROJECT_ROOT / "requirements-runtime.lock").read_text()
    version = re.search(r"^apache-airflow==([0-9.]+) ", lock, re.MULTILINE)
    assert version and version.group(1) == merged["airflowVersion"]
    image = merged["images"]["airflow"]
    assert image["repository"] == merged["defaultAirflowRepository"]
    assert image["repository"].endswith("/routeviews-cloudz")


def test_statsd_maps_metrics_as_the_compose_exporter(merged: dict[str, Any]) -> None:
    mapping = yaml.safe_load((PROJECT_ROOT / "deploy" / "statsd-mapping.yml").read_text())
    observer = mapping["defaults"]["observer_type"]
    want = [
        {**m, "observer_type": observer} if m.get("match_metric_type") == "observer" else m
        for m in mapping["mappings"]
    ]
    assert merged["statsd"]["overrideMappings"] == want
    port = merged["config"]["metrics"].get("statsd_port", 9125)
    env = {e["name"]: e["value"] for e in merged["env"]}
    assert env["CLOUDZ_STATSD_PORT"] == str(port)


def test_every_secret_is_made_from_secret_manager_in_the_runbook(merged: dict[str, Any]) -> None:
    """Each Kubernetes Secret the values name is created by docs/deploy.md's commands, from a
    secret deploy/terraform/secrets.tf declares (or Memorystore's own AUTH string)."""
    named = {
        merged["fernetKeySecretName"],
        merged["jwtSecretName"],
        merged["apiSecretKeySecretName"],
        merged["data"]["metadataSecretName"],
        merged["data"]["brokerUrlSecretName"],
        *(s["secretName"] for s in merged["secret"]),
        *(v["secret"]["secretName"] for v in merged["createUserJob"]["extraVolumes"]),
    }
    doc = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    block = doc.split("<!-- chart secrets: start -->")[1].split("<!-- chart secrets: end -->")[0]
    created = set(re.findall(r"kubectl -n airflow create secret generic ([a-z0-9-]+)", block))
    assert named == created
    declared = set(
        re.findall(
            r'"(cloudz-[a-z0-9-]+)"',
            (PROJECT_ROOT / "deploy" / "terraform" / "secrets.tf").read_text(),
        )
    )
    used = set(re.findall(r"--secret=(cloudz-[a-z0-9-]+)", block))
    assert used and used <= declared
    config_maps = {v["configMap"]["name"] for v in merged["volumes"] if "configMap" in v}
    assert config_maps <= set(
        re.findall(r"kubectl -n airflow create configmap ([a-z0-9-]+)", block)
    )


def test_the_create_user_job_makes_the_fab_users_and_every_pool(
    merged: dict[str, Any], tmp_path: Path
) -> None:
    """Its script with a stand-in ``airflow`` (logging its arguments) and the passwords as the
    Secret's mounted files: the users get them as written, quotes and backslashes included."""
    job = merged["createUserJob"]
    # the chart runs it unless webserver.defaultUser (Airflow 2's) says otherwise
    assert job["enabled"] is True and not merged["webserver"].get("defaultUser")
    assert job["command"] is None and job["args"][:2] == ["bash", "-c"]
    mount = {m["name"]: m["mountPath"] for m in job["extraVolumeMounts"]}["users"]
    assert {"name": "CLOUDZ_USERS_DIR", "value": mount} in job["env"]
    assert job["applyCustomEnv"] is True  # it gets the pools' settings of `env`
    users = tmp_path / "users"
    users.mkdir()
    (users / "admin-password").write_text('ad"min\\pw')
    (users / "receiver-password").write_text("r'x\"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "airflow.log"
    fake = bin_dir / "airflow"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\0' \"$@\" >> {log}\necho >> {log}\n")
    fake.chmod(0o755)
    env = {e["name"]: e["value"] for e in merged["env"]}
    env.update(PATH=f"{bin_dir}:/usr/bin:/bin", CLOUDZ_USERS_DIR=str(users))
    done = subprocess.run(
        ["bash", "-c", job["args"][2]], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    calls = [line.split("\0")[:-1] for line in log.read_text().splitlines() if line]

    def option(call: list[str], name: str) -> str:
        return call[call.index(name) + 1]

    created = {
        option(c, "--username"): (option(c, "--role"), option(c, "--password"))
        for c in calls
        if c[:2] == ["users", "create"]
    }
    assert created == {"admin": ("Admin", 'ad"min\\pw'), "receiver": ("User", "r'x\"")}
    assert Settings().airflow_user == "receiver"
    pools = {c[2]: int(c[3]) for c in calls if c[:2] == ["pools", "set"]}
    assert pools == {"routes_table_writes": 16, "backfill": 2, "ribs": 4}


def test_the_probes_are_the_images_own(merged: dict[str, Any]) -> None:
    """The chart's default probes exec ``/entrypoint`` (the apache/airflow image's), which the
    project's image lacks: every probe is given docker-compose.yaml's health check instead."""
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())
    checks = {
        name: service["healthcheck"]["test"][1:]
        for name, service in compose["services"].items()
        if "healthcheck" in service and service["healthcheck"]["test"][0] == "CMD"
    }
    assert "/entrypoint" not in (PROJECT_ROOT / "Dockerfile").read_text()
    for component, probe, service in (
        ("scheduler", "livenessProbe", "airflow-scheduler"),
        ("scheduler", "startupProbe", "airflow-scheduler"),
        ("triggerer", "livenessProbe", "airflow-triggerer"),
        ("dagProcessor", "livenessProbe", "airflow-dag-processor"),
    ):
        assert merged[component][probe]["command"] == checks[service], (component, probe)
    worker = compose["x-worker"]["healthcheck"]["test"]
    assert merged["workers"]["celery"]["livenessProbe"]["command"] == worker[1:]


def test_no_log_volume_and_no_log_groomer(merged: dict[str, Any]) -> None:
    """Task logs go to GCS and their local copy is deleted, so no worker keeps a volume (the
    chart's default makes workers a StatefulSet with a 100 Gi claim each) and no log-groomer
    sidecar runs (the chart's runs ``/clean-logs``, not in the project's image)."""
    assert merged["config"]["logging"]["remote_logging"] == "True"
    assert merged["config"]["logging"]["delete_local_logs"] == "True"
    for name, worker_set in _worker_sets(merged).items():
        assert worker_set["persistence"]["enabled"] is False, name
        assert worker_set["logGroomerSidecar"]["enabled"] is False, name
    for component in ("scheduler", "triggerer", "dagProcessor"):
        assert merged[component]["logGroomerSidecar"]["enabled"] is False, component
    assert merged["logs"]["persistence"]["enabled"] is False


def dag_tasks(env: dict[str, str]) -> dict[str, dict[str, dict[str, str]]]:
    """Every deployed DAG's tasks, each with the queue and pool its DAG file gives it, as
    Airflow's DagBag parses them in a fresh interpreter with ``env``'s settings."""
    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(json.dumps({d: {t.task_id: {'queue': t.queue, 'pool': t.pool} for t in dag.tasks}"
        " for d, dag in bag.dags.items()}))\n"
    )
    with tempfile.TemporaryDirectory() as home:
        done = subprocess.run(
            [sys.executable, "-c", code, str(PROJECT_ROOT / "dags")],
            env={
                **os.environ,
                **env,
                "AIRFLOW_HOME": home,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    found = dict(json.loads(done.stdout.splitlines()[-1]))
    found.pop(BENCH_DAG)
    return found


@pytest.fixture(scope="module")
def values_env(merged: dict[str, Any]) -> dict[str, str]:
    """The ``CLOUDZ_*`` settings every Airflow container of the chart gets."""
    return {e["name"]: e["value"] for e in merged["env"] if e["name"].startswith("CLOUDZ_")}


@pytest.fixture(scope="module")
def tasks(values_env: dict[str, str]) -> dict[str, dict[str, dict[str, str]]]:
    return dag_tasks(values_env)


@pytest.fixture(scope="module")
def policy() -> Iterator[ModuleType]:
    """``airflow_local_settings`` as Airflow imports it (the scheduler's cluster policy)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(AIRFLOW_CONFIG_DIR))
        patch.setattr("sys.argv", ["airflow", "api-server"])  # no preload
        yield importlib.import_module("airflow_local_settings")


def _queues(
    policy: ModuleType, env: dict[str, str], dag_id: str, task_id: str, task: dict[str, str]
) -> set[str]:
    """The queues the cluster policy gives the task, over the runs that route differently (a
    RIB's and an update file's; a scheduled run's empty conf; no run yet)."""
    runs: list[SimpleNamespace | None] = [SimpleNamespace(conf={}), None]
    if dag_id == pipeline_contract.DAG_ID:
        runs += [SimpleNamespace(conf={"archive_path": p}) for p in (RIB, UPDATES)]
    found = set()
    with pytest.MonkeyPatch.context() as patch:
        for name in policy.DAG_QUEUES.values():
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        for run in runs:
            ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, priority_weight=1, **task)
            policy.task_instance_mutation_hook(ti, run)
            found.add(ti.queue)
    return found


def task_routes(
    merged: dict[str, Any],
    tasks: dict[str, dict[str, dict[str, str]]],
    policy: ModuleType,
    env: dict[str, str],
) -> dict[tuple[str, str], set[tuple[str, str, str]]]:
    """(DAG, task) -> every (queue, worker set, account) it can run on with ``env``: the
    cluster policy's queue, each worker set serving it, that set's Google account."""
    sets = _worker_sets(merged)

    def account(worker_set: dict[str, Any]) -> str:
        email = worker_set["serviceAccount"]["annotations"]["iam.gke.io/gcp-service-account"]
        return str(email.split("@")[0].removeprefix("cloudz-").replace("-", "_"))

    routes: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
    for dag_id, dag in tasks.items():
        for task_id, task in dag.items():
            where = routes.setdefault((dag_id, task_id), set())
            for queue in _queues(policy, env, dag_id, task_id, task):
                serving = {
                    (queue, name, account(worker_set))
                    for name, worker_set in sets.items()
                    if queue in worker_set["queue"].split(",")
                }
                where |= serving or {(queue, "", "")}  # no worker set: never runs
    return routes


def lacking(
    routes: dict[tuple[str, str], set[tuple[str, str, str]]],
) -> dict[tuple[str, str], dict[str, set[tuple[str, str]]]]:
    """(DAG, task) -> {worker set: the permissions its calls need (deploy_permissions.TASKS)
    that the set's account is not granted}; a queue no set serves lacks everything."""
    out: dict[tuple[str, str], dict[str, set[tuple[str, str]]]] = {}
    for (dag_id, task_id), where in routes.items():
        need = deploy_permissions.task_needs(dag_id, task_id)
        for queue, worker_set, account in where:
            have = deploy_permissions.needed(account) if account else set()
            if need - have:
                out.setdefault((dag_id, task_id), {})[worker_set or f"(none: {queue})"] = (
                    need - have
                )
    return out


#: the backfill queue as the values leave it (off) and as a big backfill sets it
BACKFILL_QUEUES = ("", "backfill")


@pytest.mark.parametrize("backfill_queue", BACKFILL_QUEUES)
def test_every_dags_tasks_run_as_an_account_granted_their_calls(
    merged: dict[str, Any],
    tasks: dict[str, dict[str, dict[str, str]]],
    policy: ModuleType,
    values_env: dict[str, str],
    backfill_queue: str,
) -> None:
    """DAG task -> the cluster policy's queue -> the worker sets serving it -> their Google
    accounts -> each grants every permission the task's calls need. (An account's grants are
    exactly its components' needs: test_terraform_iam.py proves Terraform gives that.)"""
    # every deployed task says what it calls, and no task is named that the DAGs lack
    assert {d: set(t) for d, t in tasks.items()} == {
        d: set(t) for d, t in deploy_permissions.TASKS.items()
    }
    env = {**values_env, "CLOUDZ_BACKFILL_QUEUE": backfill_queue}
    routes = task_routes(merged, tasks, policy, env)
    assert lacking(routes) == {}
    accounts = {key: {a for _q, _s, a in where} for key, where in routes.items()}
    # each component's tasks on its own account, not merely on one that happens to be wider
    for task in ("scan", "recount", "report"):
        assert accounts[("mrt_reconcile", task)] == {"reconcile"}, task
    for dag_id in ("mrt_mirror", "mrt_backfill"):
        assert {a for t in ("plan", "convert", "load") for a in accounts[(dag_id, t)]} == {"mirror"}
    for dag_id in ("mrt_file", "mrt_maintenance", "prefix_origins"):
        assert {a for key, found in accounts.items() if key[0] == dag_id for a in found} == {
            "worker"
        }
    if backfill_queue:  # the backfill pool's conversions, the reconcile's heals among them
        assert routes[("mrt_reconcile", "convert")] == {("backfill", "backfill", "mirror")}


def routes_table(routes: dict[tuple[str, str], set[tuple[str, str, str]]]) -> str:
    """docs/deploy.md's table of where each DAG's tasks run: per DAG and queue, its tasks,
    the worker sets serving the queue and their accounts."""
    rows: dict[tuple[str, str], tuple[list[str], set[str], set[str]]] = {}
    for (dag_id, task_id), where in routes.items():
        for queue, worker_set, account in where:
            tasks_of, sets, accounts = rows.setdefault((dag_id, queue), ([], set(), set()))
            if task_id not in tasks_of:
                tasks_of.append(task_id)
            sets.add(worker_set)
            accounts.add(account)
    lines = [
        "| DAG | tasks | queue | worker sets | account |",
        "|---|---|---|---|---|",
    ]
    for (dag_id, queue), (tasks_of, sets, accounts) in sorted(rows.items()):
        tasks_of.sort(key=list(deploy_permissions.TASKS[dag_id]).index)
        set_names = ", ".join(f"`{name}`" for name in sorted(sets))
        emails = ", ".join("`cloudz-" + a.replace("_", "-") + "@`" for a in sorted(accounts))
        lines.append(f"| `{dag_id}` | {', '.join(tasks_of)} | `{queue}` | {set_names} | {emails} |")
    return "\n".join(lines) + "\n"


def test_docs_deploy_shows_where_each_dags_tasks_run(
    merged: dict[str, Any],
    tasks: dict[str, dict[str, dict[str, str]]],
    policy: ModuleType,
    values_env: dict[str, str],
) -> None:
    table = routes_table(task_routes(merged, tasks, policy, values_env))
    doc = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    assert table in doc, f"docs/deploy.md's table of task routes differs from:\n{table}"


def test_a_task_on_an_account_without_its_grants_is_caught(
    merged: dict[str, Any],
    tasks: dict[str, dict[str, dict[str, str]]],
    policy: ModuleType,
    values_env: dict[str, str],
) -> None:
    """Issue 22's finding: without its queue the reconcile ran on "default" as cloudz-worker@,
    which may not write the coverage table; a mirror set given cloudz-worker@ lacks the store's
    claims and staging deletes; a queue no set serves is reported too."""
    unrouted = {k: v for k, v in values_env.items() if k != "CLOUDZ_RECONCILE_QUEUE"}
    found = lacking(task_routes(merged, tasks, policy, unrouted))
    assert set(found) == {("mrt_reconcile", t) for t in ("scan", "recount", "report")}
    assert ("table:coverage", "bigquery.tables.updateData") in found[("mrt_reconcile", "report")][
        "default"
    ]
    assert set(found[("mrt_reconcile", "report")]) == {"default", "ribs"}

    wrong = copy.deepcopy(merged)
    mirror = next(s for s in wrong["workers"]["celery"]["sets"] if s["name"] == "mirror")
    mirror["serviceAccount"]["annotations"]["iam.gke.io/gcp-service-account"] = (
        "cloudz-worker@PROJECT.iam.gserviceaccount.com"
    )
    found = lacking(task_routes(wrong, tasks, policy, values_env))
    assert set(found) == {("mrt_mirror", "plan"), ("mrt_backfill", "plan")}
    assert {
        ("bucket:work/_claims/", "storage.objects.delete"),
        ("bucket:work/_incoming/", "storage.objects.delete"),
    } <= found[("mrt_mirror", "plan")]["mirror"]

    nowhere = {**values_env, "CLOUDZ_MIRROR_QUEUE": "mirrors"}
    found = lacking(task_routes(merged, tasks, policy, nowhere))
    assert set(found) == {
        (d, t) for d in ("mrt_mirror", "mrt_backfill") for t in ("plan", "convert", "load")
    }
    assert set(found[("mrt_mirror", "load")]) == {"(none: mirrors)"}
