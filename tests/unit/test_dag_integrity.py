"""Every DAG file parses, cheaply, and carries what operators rely on in the UI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cloudz import pipeline_contract as contract
from cloudz.settings import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"


def _run_in_airflow(
    code: str, airflow_home: Path, task_timeout: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter: Airflow reads its config once, at import."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
    env.pop("CLOUDZ_TASK_TIMEOUT_SECONDS", None)
    if task_timeout is not None:
        env["CLOUDZ_TASK_TIMEOUT_SECONDS"] = task_timeout
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _dagbag_report(airflow_home: Path, task_timeout: str | None = None) -> str:
    proc = _run_in_airflow(
        f"""
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        print("ERRORS", bag.import_errors)
        for dag_id, dag in sorted(bag.dags.items()):
            retries = {{t.task_id: t.retries for t in dag.tasks}}
            print("DAG", dag_id, sorted(dag.tags), bool(dag.doc_md), retries)
            timeouts = {{t.task_id: t.execution_timeout.total_seconds() for t in dag.tasks
                         if t.execution_timeout is not None}}
            print("TIMEOUTS", dag_id, timeouts)
            shape = {{t.task_id: (t.pool, t.priority_weight, str(t.weight_rule),
                                  type(t).__name__) for t in dag.tasks}}
            print("SHAPE", dag_id, repr(getattr(dag.timetable, "summary", None)), dag.catchup,
                  dag.max_active_runs, shape)
        """,
        airflow_home,
        task_timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def dagbag_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _dagbag_report(tmp_path_factory.mktemp("airflow-home"))


def test_no_import_errors(dagbag_report: str) -> None:
    assert "ERRORS {}" in dagbag_report, dagbag_report


def test_per_file_dag_has_its_contract(dagbag_report: str) -> None:
    line = next(x for x in dagbag_report.splitlines() if x.startswith("DAG mrt_file "))
    assert "'cloudz'" in line
    assert " True " in line  # doc_md for the UI
    for task in contract.PER_FILE_TASKS:
        assert f"'{task}': 2" in line, line


def test_per_file_tasks_have_a_time_limit(dagbag_report: str, tmp_path: Path) -> None:
    """Every task of the per-file DAG stops after an hour (the last stop for a hostile file),
    or after ``CLOUDZ_TASK_TIMEOUT_SECONDS``."""
    default = {task: 3600.0 for task in contract.PER_FILE_TASKS}
    assert f"TIMEOUTS mrt_file {default}" in dagbag_report, dagbag_report
    set_to_90 = {task: 90.0 for task in contract.PER_FILE_TASKS}
    assert f"TIMEOUTS mrt_file {set_to_90}" in _dagbag_report(tmp_path, "90")


@pytest.mark.parametrize(
    ("dag_id", "schedule"), [("mrt_mirror", "0 * * * *"), ("mrt_backfill", "0 0 * * *")]
)
def test_archive_dags_keep_live_uploads_first(
    dagbag_report: str, dag_id: str, schedule: str
) -> None:
    """The mirror and backfill DAGs: time-scheduled (a backfill needs that), never caught up
    by the scheduler, one run at a time, conversions mapped in the backfill pool, every task
    weighing 1 against the per-file DAG's 100."""
    line = next(x for x in dagbag_report.splitlines() if x.startswith(f"SHAPE {dag_id} "))
    assert f"SHAPE {dag_id} '{schedule}' False 1 " in line, line
    assert "'plan': ('backfill', 1, 'absolute', '_PythonDecoratedOperator')" in line
    assert "'convert': ('backfill', 1, 'absolute', 'DecoratedMappedOperator')" in line, line
    assert "'load': ('routes_table_writes', 1, 'absolute', '_PythonDecoratedOperator')" in line
    live = next(x for x in dagbag_report.splitlines() if x.startswith("SHAPE mrt_file "))
    assert "'convert': ('default_pool', 100, 'absolute'" in live, live
    assert "'load': ('routes_table_writes', 100, 'absolute'" in live, live


def test_reconcile_dag_runs_hourly_behind_live_uploads(dagbag_report: str) -> None:
    """The reconcile DAG: hourly at :15 (after the mirror's :00), one run at a time, its
    healing in the backfill and table-writes pools at weight 1, and a report that runs
    when there was nothing to heal (its upstream skipped)."""
    line = next(x for x in dagbag_report.splitlines() if x.startswith("SHAPE mrt_reconcile "))
    assert "SHAPE mrt_reconcile '15 * * * *' False 1 " in line, line
    assert "'scan': ('default_pool', 1, 'absolute', '_PythonDecoratedOperator')" in line
    assert "'convert': ('backfill', 1, 'absolute', 'DecoratedMappedOperator')" in line, line
    assert "'load': ('routes_table_writes', 1, 'absolute', '_PythonDecoratedOperator')" in line
    assert "'recount': ('routes_table_writes', 1, 'absolute'" in line, line
    assert "'report': ('default_pool', 1, 'absolute'" in line, line


#: what a DAG file must not import at parse time: every task process parses it. (Airflow's
#: provider discovery itself loads ``airflow.providers.google.get_provider_info`` and the
#: ``google.cloud`` namespace package: metadata, not clients.)
HEAVY_MODULES = (
    "google.cloud.storage",
    "google.cloud.bigquery",
    "google.api_core",
    "google.auth",
    "googleapiclient",
    "grpc",
    "airflow.providers.google.cloud",
    "airflow.providers.google.common",
    "fastavro",
    "mrtparse",
    "cloudz.convert",
    "cloudz.warehouse.schema",
    "cloudz.file_pipeline",
    "cloudz.warehouse.file_rows",
    "cloudz.batch",
    "cloudz.sources",
    "cloudz.warehouse.load_claims",
    "cloudz.reconcile",
)


def _import_report(dag_file: Path, airflow_home: Path) -> str:
    """Import ``dag_file`` after ``airflow.sdk`` in a fresh interpreter; what it opened and
    which heavy modules it loaded (which modules are loaded, not how long it took)."""
    proc = _run_in_airflow(
        f"""
        import builtins, sys
        opened = []
        real_open = builtins.open
        def spy(file, *a, **k):
            opened.append(str(file))
            return real_open(file, *a, **k)
        import airflow.sdk  # airflow itself may read its config
        # TaskFlow's minimum: ``task`` is implemented in the standard provider, and provider
        # discovery reads every installed provider's get_provider_info
        from airflow.sdk import dag, task
        sdk_loaded = set(sys.modules)
        builtins.open = spy
        import importlib.util
        spec = importlib.util.spec_from_file_location("dag_under_test", {str(dag_file)!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        builtins.open = real_open
        print("OPENED", [f for f in opened if {str(PROJECT_ROOT)!r} in f])
        heavy = {HEAVY_MODULES!r}
        print("HEAVY", sorted(m for m in sys.modules if m.startswith(heavy)))
        print("PROVIDERS", sorted(
            m for m in set(sys.modules) - sdk_loaded if m.startswith("airflow.providers")
        ))
        """,
        airflow_home,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("dag_file", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_files_do_no_io_or_heavy_imports_at_top_level(dag_file: Path, tmp_path: Path) -> None:
    """Parsing imports no Google client, provider or converter module and opens no file of
    ours: every task process parses the file before it runs. The ``airflow.providers``
    modules seen after a parse are those ``from airflow.sdk import dag, task`` loads by itself
    (``task`` lives in the standard provider, and provider discovery reads each installed
    provider's ``get_provider_info``): the DAG file adds none."""
    report = _import_report(dag_file, tmp_path)
    assert "OPENED []" in report, report
    assert "HEAVY []" in report, report
    assert "PROVIDERS []" in report, report


def test_the_heavy_module_check_catches_a_provider_import(tmp_path: Path) -> None:
    """The same check on a DAG file that imports the GCS hook at top level fails."""
    bad = tmp_path / "dags" / "heavy_dag.py"
    bad.parent.mkdir()
    bad.write_text("from airflow.providers.google.cloud.hooks.gcs import GCSHook  # noqa\n")
    report = _import_report(bad, tmp_path)
    assert "HEAVY []" not in report
    assert "PROVIDERS []" not in report
    assert "airflow.providers.google.cloud.hooks.gcs" in report
