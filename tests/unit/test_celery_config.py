"""The CeleryExecutor's configuration and the cluster policy that gives RIBs their queue.

What the workers do with it is shown on a real stack (tests/e2e/test_celery_workers.py);
here: the pieces that decide it, on every input that matters.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from cloudz import pipeline_contract as contract
from cloudz.settings import Settings
from cloudz.stack import airflow_env, celery, processes

RIB = "route-views2/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2"
UPDATES = "route-views2/bgpdata/2026.11/UPDATES/updates.20261101.0015.bz2"


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``airflow_local_settings`` as Airflow imports it in the api-server (no preload)."""
    monkeypatch.syspath_prepend(str(airflow_env.AIRFLOW_CONFIG_DIR))
    monkeypatch.setattr("sys.argv", ["airflow", "api-server"])
    return importlib.import_module("airflow_local_settings")


def _ti(
    task_id: str = contract.TASK_CONVERT, dag_id: str = contract.DAG_ID, pool: str = "default_pool"
) -> SimpleNamespace:
    return SimpleNamespace(
        dag_id=dag_id, task_id=task_id, queue="default", pool=pool, priority_weight=100
    )


def _run(conf: object) -> SimpleNamespace:
    return SimpleNamespace(conf=conf)


def test_the_policy_is_what_airflow_takes_from_the_module(policy: ModuleType) -> None:
    assert policy.__all__ == ["task_instance_mutation_hook"]


@pytest.mark.parametrize(
    ("ti", "run", "queue"),
    [
        (_ti(), _run({"archive_path": RIB}), "ribs"),
        (_ti(), _run({"archive_path": UPDATES}), "default"),
        (_ti(contract.TASK_LOAD), _run({"archive_path": RIB}), "ribs"),
        (_ti(contract.TASK_LOAD), _run({"archive_path": UPDATES}), "default"),
        (_ti("reconcile"), _run({"archive_path": RIB}), "default"),
        (_ti(dag_id="mrt_archive"), _run({"archive_path": RIB}), "default"),
        (_ti(), None, "default"),  # Airflow may call it before the run is bound
        (_ti(), _run(None), "default"),  # a scheduled run has no conf
        (_ti(), _run({}), "default"),
        (_ti(), _run({"archive_path": "../../etc/passwd"}), "default"),  # not an archive path
        (_ti(), _run({"archive_path": 7}), "default"),
    ],
)
def test_only_a_ribs_tasks_of_the_per_file_dag_take_the_rib_queue_pool_and_priority(
    policy: ModuleType, ti: SimpleNamespace, run: SimpleNamespace | None, queue: str
) -> None:
    policy.task_instance_mutation_hook(ti, run)
    assert (ti.queue, ti.pool) == ((queue, "ribs") if queue == "ribs" else (queue, "default_pool"))
    # a RIB's tasks yield to the update files of the same minutes (the DAG's weight is 100)
    assert ti.priority_weight == (policy.RIB_PRIORITY if queue == "ribs" else 100)
    assert 1 < policy.RIB_PRIORITY < 100


def test_batch_conversions_take_the_backfill_queue_only_when_one_is_set(
    policy: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _ti("convert", dag_id="mrt_archive", pool="backfill")
    policy.task_instance_mutation_hook(batch, _run({}))
    assert batch.queue == "default"
    monkeypatch.setenv("CLOUDZ_BACKFILL_QUEUE", "backfill")
    for run in (_run({}), None):  # scheduled batch runs: no conf, maybe no run yet
        batch = _ti("convert", dag_id="mrt_archive", pool="backfill")
        policy.task_instance_mutation_hook(batch, run)
        assert (batch.queue, batch.pool) == ("backfill", "backfill")
    live = _ti(contract.TASK_LOAD, pool="routes_table_writes")
    policy.task_instance_mutation_hook(live, _run({"archive_path": UPDATES}))
    assert live.queue == "default"


def test_the_rib_pool_has_the_slots_of_the_workers_serving_ribs(tmp_path: Path) -> None:
    celery_stack = Settings(state_dir=tmp_path, executor="celery", airflow_parallelism=8)
    assert airflow_env.rib_pool(celery_stack) == (
        "ribs", 4, "RIB conversions (the slots of the workers serving them)"
    )  # fmt: skip
    two_serving = Settings(
        state_dir=tmp_path, executor="celery", airflow_parallelism=9,
        celery_workers="default;ribs;default,ribs",
    )  # fmt: skip
    assert airflow_env.rib_pool(two_serving)[1] == 6  # type: ignore[index]
    local = Settings(state_dir=tmp_path, airflow_parallelism=8)
    assert airflow_env.rib_pool(local)[1] == 4  # type: ignore[index]
    assert airflow_env.rib_pool(Settings(state_dir=tmp_path, rib_slots=3))[1] == 3  # type: ignore[index]
    assert airflow_env.rib_pool(Settings(state_dir=tmp_path, rib_pool="")) is None
    with pytest.raises(ValueError, match="serves the RIB queue 'ribs'"):
        airflow_env.rib_pool(
            Settings(state_dir=tmp_path, executor="celery", celery_workers="default")
        )


def test_the_rib_queue_is_a_setting_and_empty_turns_it_off(
    policy: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDZ_RIB_QUEUE", "big-ribs")
    ti = _ti()
    policy.task_instance_mutation_hook(ti, _run({"archive_path": RIB}))
    assert ti.queue == "big-ribs"
    monkeypatch.setenv("CLOUDZ_RIB_QUEUE", "")
    ti = _ti()
    policy.task_instance_mutation_hook(ti, _run({"archive_path": RIB}))
    assert ti.queue == "default"


def test_workers_are_named_and_share_the_executor_slots() -> None:
    found = celery.workers(Settings(), slots=8)
    assert [(w.name, w.queues, w.concurrency) for w in found] == [
        ("worker-0", ("default",), 4),
        ("worker-1", ("default", "ribs"), 4),
    ]
    three = celery.workers(Settings(celery_workers="default; ribs ;default,ribs"), slots=8)
    assert [w.queues for w in three] == [("default",), ("ribs",), ("default", "ribs")]
    assert {w.concurrency for w in three} == {3}
    fixed = celery.workers(Settings(celery_concurrency=2), slots=8)
    assert {w.concurrency for w in fixed} == {2}


@pytest.mark.parametrize("workers", ["", " ; ", "default;,"])
def test_a_worker_list_without_queues_is_refused(workers: str) -> None:
    with pytest.raises(ValueError, match="CLOUDZ_CELERY_WORKERS"):
        celery.workers(Settings(celery_workers=workers), slots=8)


def test_an_unknown_executor_is_refused() -> None:
    with pytest.raises(ValueError, match="expected local or celery"):
        celery.uses_celery(Settings(executor="kubernetes"))


def test_the_broker_listens_on_loopback_with_a_password_kept_off_the_command_line(
    tmp_path: Path,
) -> None:
    settings = Settings(state_dir=tmp_path, executor="celery", broker_port=16390)
    (spec,) = processes.build_specs(settings, groups=("broker",))
    config = Path(spec.command[-1])
    password = airflow_env.stack_secrets(tmp_path / "airflow")["broker_password"]
    assert password not in " ".join(spec.command)
    assert os.stat(config).st_mode & 0o077 == 0
    lines = config.read_text().splitlines()
    assert {"bind 127.0.0.1", "port 16390", f'requirepass "{password}"', "appendonly yes"} <= set(
        lines
    )
    assert spec.ports == (16390,)


def test_the_celery_stack_adds_the_broker_and_workers_the_local_one_does_not(
    tmp_path: Path,
) -> None:
    local = Settings(state_dir=tmp_path)
    names = [s.name for s in processes.build_specs(local, groups=processes.GROUPS)]
    assert not any(n == "broker" or n.startswith("celery-") for n in names)
    assert airflow_env.airflow_env(local)["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"

    settings = Settings(state_dir=tmp_path, executor="celery")
    specs = processes.build_specs(settings, groups=processes.GROUPS)
    names = [s.name for s in specs]
    assert names.index("broker") < names.index("airflow-scheduler")
    assert names.index("airflow-api-server") < names.index("celery-worker-0")
    assert names.index("celery-worker-1") < names.index("receiver-0")
    worker = next(s for s in specs if s.name == "celery-worker-1")
    slots = str(-(-airflow_env.parallelism(settings) // 2))
    assert worker.command[1:] == [
        "celery", "worker", "--celery-hostname", f"worker-1@{socket.gethostname()}",
        "--queues", "default,ribs", "--concurrency", slots, "--skip-serve-logs",
    ]  # fmt: skip
    assert worker.env[celery.WORKER_NAME_VAR] == "worker-1"
    env = airflow_env.airflow_env(settings)
    password = airflow_env.stack_secrets(tmp_path / "airflow")["broker_password"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == (
        f"redis://:{password}@127.0.0.1:{settings.broker_port}/0"
    )
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "default"
    assert env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "cloudz.stack.celery.worker_hostname"


def test_a_secrets_file_from_before_the_broker_gains_its_password_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    old = {"jwt_secret": "j", "api_secret_key": "a", "fernet_key": "f"}
    (tmp_path / airflow_env.SECRETS_FILE).write_text(json.dumps(old))
    keys = airflow_env.stack_secrets(tmp_path)
    assert {k: keys[k] for k in old} == old
    assert len(keys["broker_password"]) == 48
    assert airflow_env.stack_secrets(tmp_path) == keys  # kept from then on


def test_a_worker_names_itself_before_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(celery.WORKER_NAME_VAR, "worker-1")
    assert celery.worker_hostname().startswith("worker-1@")
    monkeypatch.delenv(celery.WORKER_NAME_VAR)
    assert "@" not in celery.worker_hostname()


def test_an_empty_emulator_variable_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-compose without its ``emulators`` profile sets them empty; the BigQuery client
    would take "" for its endpoint."""
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", "")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://gcs:4443")
    monkeypatch.syspath_prepend(str(airflow_env.AIRFLOW_CONFIG_DIR))
    monkeypatch.setattr("sys.argv", ["airflow", "api-server"])
    importlib.reload(importlib.import_module("airflow_local_settings"))
    assert "BIGQUERY_EMULATOR_HOST" not in os.environ
    assert os.environ["STORAGE_EMULATOR_HOST"] == "http://gcs:4443"
