"""
### Maintenance: keep `CLOUDZ_RUN_RETENTION_DAYS` (30) days of per-file runs

Daily at 03:40 UTC. A year of files is ~2.3M `mrt_file` runs and ~4.6M task instances in
Airflow's metadata DB, and the api-server's listings and the UI's pages slow down with them
(`bench/year_of_runs.py`). **`clean_runs`** removes the per-file runs that started more than
`CLOUDZ_RUN_RETENTION_DAYS` ago, with their task instances and XComs, through Airflow's own
`db clean` (the rows are kept in its `_airflow_deleted__*` archive tables for
`CLOUDZ_RUN_ARCHIVE_DAYS`, 7, then dropped), but never a run whose answer could be lost: the
cut-off moves back before the oldest run not ended yet and before the oldest ended run with
no row in the files catalog (its outcome is nowhere else). The cleaned tables are then
vacuumed and analyzed (`db clean` only deletes), and two indexes Airflow does not ship are
made if missing (`dag_run` by start date, and by `dag_id, logical_date, id` for the grid's
default order; `cloudz/reconcile/run_retention.py` says why). Turning retention on over a
backlog leaves the tables their old size (VACUUM reuses the space, it does not return it): run
`VACUUM FULL` on them once, in a quiet hour (it locks each table while it copies it).

A cleaned file still has its answer: the receiver replies from the files catalog (state,
rows, load job, stage and reason of a failure) for a file whose run is gone, and starts no
new run for it. `CLOUDZ_RUN_RETENTION_DAYS=0` turns retention off. Safe to re-run: a second
run finds nothing older to clean.

#### When runs fail

Nothing is lost while it fails: old runs stay a day longer and the UI's listings slow down a
little. `clean_runs` runs `python -m cloudz.reconcile.run_retention` and fails with that
process's exit code and the end of its stderr: read the task's log (the run's page →
`clean_runs` → Logs). A metadata DB that did not answer, a lock or the 2-hour timeout
(retried twice, 5 minutes apart) is fixed by clearing the task once the DB answers; an
error that repeats on every try (a setting, a bug) is not: fix it, then clear the task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

#: a connection whose extra ``sqlalchemy_url`` is the metadata DB's URL: Airflow 3 runs a task
#: with ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` blanked (tasks reach the DB only through the
#: API), so ``db clean``'s process gets the URL from this connection (a secret in a deployment)
METADATA_DB_CONN_ID = "cloudz_metadata_db"


@dag(
    dag_id="mrt_maintenance",
    schedule=CronDataIntervalTimetable("40 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cloudz", "operations"],
    doc_md=__doc__,
    default_args={
        "owner": "cloudz",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(hours=2),
        "priority_weight": 1,
        "weight_rule": "absolute",
    },
)
def mrt_maintenance() -> None:
    @task
    def clean_runs() -> dict[str, Any]:
        """``python -m cloudz.reconcile.run_retention`` in a process of its own: Airflow 3
        gives a task no metadata DB session, a CLI process (as ``airflow db clean``) has one,
        with the URL of the ``cloudz_metadata_db`` connection."""
        from airflow.sdk import BaseHook

        url = BaseHook.get_connection(METADATA_DB_CONN_ID).extra_dejson["sqlalchemy_url"]
        db = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "cloudz.reconcile.run_retention"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **db},
        )
        print(proc.stderr[-20_000:])
        if proc.returncode != 0:
            raise RuntimeError(f"run_retention exited {proc.returncode}: {proc.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result

    clean_runs()


mrt_maintenance()
