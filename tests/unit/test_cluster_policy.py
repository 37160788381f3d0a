"""The cluster policy's routing by DAG: the reconcile's and the mirror's tasks take their DAG's
queue when the deployment names one, so the worker set serving it runs them as the account
their grants belong to (docs/deploy.md "Service accounts"); unnamed, the default queue, as the
embedded stack has it. The chain from each task to its account: tests/unit/test_helm_values.py.
"""

from __future__ import annotations

import importlib
from types import ModuleType, SimpleNamespace

import pytest

from cloudz import pipeline_contract as contract
from cloudz.stack import airflow_env

RIB = "route-views2/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2"


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``airflow_local_settings`` as Airflow imports it, no DAG queue set."""
    monkeypatch.syspath_prepend(str(airflow_env.AIRFLOW_CONFIG_DIR))
    monkeypatch.setattr("sys.argv", ["airflow", "api-server"])
    module = importlib.import_module("airflow_local_settings")
    for name in (*module.DAG_QUEUES.values(), "CLOUDZ_BACKFILL_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    return module


def _ti(dag_id: str, task_id: str, pool: str = "default_pool") -> SimpleNamespace:
    return SimpleNamespace(
        dag_id=dag_id, task_id=task_id, queue="default", pool=pool, priority_weight=1
    )


#: every task of the two DAGs, with its pool (dags/mrt_reconcile.py, dags/mrt_archive.py)
RECONCILE = [
    ("scan", "default_pool"),
    ("convert", "backfill"),
    ("load", "routes_table_writes"),
    ("recount", "routes_table_writes"),
    ("report", "default_pool"),
]
ARCHIVE = [("plan", "backfill"), ("convert", "backfill"), ("load", "routes_table_writes")]


def test_without_a_dag_queue_every_task_stays_on_default(policy: ModuleType) -> None:
    for dag_id, tasks in (
        ("mrt_reconcile", RECONCILE),
        ("mrt_mirror", ARCHIVE),
        ("mrt_backfill", ARCHIVE),
    ):
        for task_id, pool in tasks:
            for run in (SimpleNamespace(conf={}), None):
                ti = _ti(dag_id, task_id, pool)
                policy.task_instance_mutation_hook(ti, run)
                assert (ti.queue, ti.pool) == ("default", pool), (dag_id, task_id)


def test_each_dag_takes_its_own_queue(policy: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDZ_RECONCILE_QUEUE", "reconcile")
    monkeypatch.setenv("CLOUDZ_MIRROR_QUEUE", "mirror")
    for dag_id, tasks, queue in (
        ("mrt_reconcile", RECONCILE, "reconcile"),
        ("mrt_mirror", ARCHIVE, "mirror"),
        ("mrt_backfill", ARCHIVE, "mirror"),
    ):
        for task_id, pool in tasks:
            for run in (SimpleNamespace(conf={}), None):  # scheduled: no conf, maybe no run
                ti = _ti(dag_id, task_id, pool)
                policy.task_instance_mutation_hook(ti, run)
                assert (ti.queue, ti.pool, ti.priority_weight) == (queue, pool, 1), task_id
    # the per-file DAG and the others keep theirs: a RIB's tasks still go to ribs
    rib = _ti(contract.DAG_ID, contract.TASK_CONVERT)
    policy.task_instance_mutation_hook(rib, SimpleNamespace(conf={"archive_path": RIB}))
    assert (rib.queue, rib.pool) == ("ribs", "ribs")
    for dag_id, task_id in (("prefix_origins", "rebuild"), ("mrt_maintenance", "clean_runs")):
        other = _ti(dag_id, task_id)
        policy.task_instance_mutation_hook(other, SimpleNamespace(conf={}))
        assert other.queue == "default", dag_id


def test_a_backfill_queue_takes_the_backfill_pools_tasks_first(
    policy: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CLOUDZ_BACKFILL_QUEUE set, the backfill pool's tasks of every DAG go there (its
    workers run as cloudz-mirror@, granted conversions): the reconcile's heals too."""
    monkeypatch.setenv("CLOUDZ_RECONCILE_QUEUE", "reconcile")
    monkeypatch.setenv("CLOUDZ_MIRROR_QUEUE", "mirror")
    monkeypatch.setenv("CLOUDZ_BACKFILL_QUEUE", "backfill")
    got = {}
    for dag_id, tasks in (("mrt_reconcile", RECONCILE), ("mrt_mirror", ARCHIVE)):
        for task_id, pool in tasks:
            ti = _ti(dag_id, task_id, pool)
            policy.task_instance_mutation_hook(ti, SimpleNamespace(conf={}))
            got[(dag_id, task_id)] = ti.queue
    assert got == {
        ("mrt_reconcile", "scan"): "reconcile",
        ("mrt_reconcile", "convert"): "backfill",
        ("mrt_reconcile", "load"): "reconcile",
        ("mrt_reconcile", "recount"): "reconcile",
        ("mrt_reconcile", "report"): "reconcile",
        ("mrt_mirror", "plan"): "backfill",
        ("mrt_mirror", "convert"): "backfill",
        ("mrt_mirror", "load"): "mirror",
    }


def test_an_empty_dag_queue_means_default(
    policy: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDZ_RECONCILE_QUEUE", "")
    ti = _ti("mrt_reconcile", "report")
    policy.task_instance_mutation_hook(ti, SimpleNamespace(conf={}))
    assert ti.queue == "default"
