"""
### Reconcile: every archived file loaded, every collector sending

Hourly (at :15), over the files named in the last `CLOUDZ_RECONCILE_LOOKBACK_DAYS` (3) days,
or the days and collectors of a manual run's params:

1. **`scan`** lists the bucket (every collector of the list and of the bucket), the files
   catalog and the per-file DAG's unfinished runs, and sorts each archived file: loaded,
   failed (reported with stage, reason and run: re-run it from Browse → Coverage), in
   flight (its run is on it, or it arrived less than `CLOUDZ_RECONCILE_SETTLE_MINUTES` ago),
   or **to heal**: archived with no run that will ever load it (Airflow was down at upload).
   It also reports Avro objects without their raw object, runs unfinished for longer than
   `CLOUDZ_RECONCILE_STUCK_MINUTES`, and writes the coverage table: per collector, day
   and kind, files expected by the cadence and archived, the newest file, and whether the
   collector is silent or missing from the collector list (also as StatsD gauges).
2. **`convert`** and **`load`** heal the files with the mirror's own steps (claims, ledger,
   catalog rows): no collector action is needed.
3. **`recount`** counts the rows of the files loaded since the last run (or, with
   `recount=all`, of the whole window) and reloads a file whose count differs from its
   catalog row (delete its rows, load its Avro object again, count).
4. **`report`** puts it together in the task log and its XCom, and sets the backlog gauges.

Safe to clear and re-run: a healed file is found loaded the next time.

#### When runs fail

A run that succeeds can still report failed files: those are the per-file failures (the
`mrt_file` DAG's doc says which a re-run can fix; Re-run or Run them from Browse →
Coverage). The run itself:

- **`scan` failed**: nothing is healed or reported, and `report` fails too ("the scan
  failed"). The bucket, the catalog or Airflow's metadata did not answer (a retry can fix it:
  clear `scan` with downstream once it answers), or a manual run's params are wrong
  (`from_day`/`to_day` not `YYYY-MM-DD`: trigger it again with correct ones).
- **`convert` or `load` failed**: `report` still runs and sets the gauges; the files not
  healed are found again by the next hourly run (`BacklogNotHealed` fires if two runs in a
  row leave them). A heal of a file wrong for good records it *failed* and does not fail the
  task.
- **`recount` failed**: the next run recounts the files catalogued in the last 2 hours, so
  one failed hour is covered; after more, trigger a run with `recount=all` (Trigger → params).
- **No run for 3 hours** (`ReconcileNotRunning`): the DAG is paused, or the scheduler is
  down; docs/runbook.md has the commands.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

GCP_CONN_ID = "google_cloud_default"
TABLE_WRITES_POOL = os.environ.get("CLOUDZ_TABLE_WRITES_POOL") or "routes_table_writes"
BACKFILL_POOL = os.environ.get("CLOUDZ_BACKFILL_POOL") or "backfill"
TASK_TIMEOUT = timedelta(seconds=float(os.environ.get("CLOUDZ_TASK_TIMEOUT_SECONDS") or 3600))


def _settings() -> Any:
    from cloudz.settings import Settings

    return Settings.from_env()


@dag(
    dag_id="mrt_reconcile",
    # at :15, after the mirror's run at :00 has brought what the archive had
    schedule=CronDataIntervalTimetable("15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cloudz", "mrt", "operations"],
    doc_md=__doc__,
    params={
        "from_day": Param(
            "", type="string", description="first day of file names, YYYY-MM-DD (default: lookback)"
        ),
        "to_day": Param("", type="string", description="last day, YYYY-MM-DD (default: today)"),
        "collectors": Param(
            "", type="string", description="comma-separated collectors (default: all)"
        ),
        "recount": Param(
            "recent",
            enum=["recent", "all", "none"],
            description="recount loaded files: those catalogued in the last 2 hours, all of "
            "the window, or none; a file whose rows differ is reloaded",
        ),
        "settle_minutes": Param(
            "",
            type=["string", "integer"],
            description="leave files archived less than this ago to their own run "
            "(default: CLOUDZ_RECONCILE_SETTLE_MINUTES)",
        ),
    },
    default_args={
        "owner": "cloudz",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "execution_timeout": TASK_TIMEOUT,
        "priority_weight": 1,
        "weight_rule": "absolute",
    },
)
def mrt_reconcile() -> None:
    @task
    def scan(params: dict[str, Any] | None = None) -> list[list[dict[str, Any]]]:
        """The chunks to heal; what was found: XComs ``findings`` and ``flagged``."""
        from cloudz.batch.plan import chunked
        from cloudz.reconcile import run

        settings = _settings()
        window = run.Window.of(settings, params or {}, datetime.now(UTC))
        scanned = run.scan(GCP_CONN_ID, settings, window)
        ti = get_current_context()["ti"]
        ti.xcom_push(key="findings", value=scanned["findings"])
        ti.xcom_push(key="flagged", value=scanned["flagged"])
        ti.xcom_push(key="to_recount", value=scanned["to_recount"])
        ti.xcom_push(key="live", value=scanned["live"])
        return chunked(scanned["to_heal"])

    @task(pool=BACKFILL_POOL)
    def convert(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from cloudz.batch import run_range

        return run_range.convert(GCP_CONN_ID, get_current_context(), chunk)

    @task(pool=TABLE_WRITES_POOL)
    def load(converted: Any) -> dict[str, Any]:
        from cloudz.batch import run_range

        return run_range.load(GCP_CONN_ID, get_current_context(), converted)

    @task(pool=TABLE_WRITES_POOL)
    def recount() -> dict[str, Any]:
        from cloudz.reconcile.recount import recount

        context = get_current_context()
        settings = _settings()
        entries = context["ti"].xcom_pull(task_ids="scan", key="to_recount") or []
        return recount(context, GCP_CONN_ID, settings.table_ref, settings.files_ref, entries)

    # all_done: the findings are reported (and the gauges set) even when a heal failed; the
    # other tasks' XComs are pulled, not passed, so a failed one reads as nothing done
    @task(trigger_rule="all_done")
    def report() -> dict[str, Any]:
        from cloudz.reconcile import run

        ti = get_current_context()["ti"]
        findings = ti.xcom_pull(task_ids="scan", key="findings")
        if findings is None:
            raise RuntimeError("the scan failed: nothing to report (see its log)")
        scanned = {
            "findings": findings,
            "flagged": ti.xcom_pull(task_ids="scan", key="flagged"),
            "live": ti.xcom_pull(task_ids="scan", key="live"),
        }
        loaded = ti.xcom_pull(task_ids="load") or {}
        recounted = ti.xcom_pull(task_ids="recount") or {}
        return run.report(scanned, dict(loaded), dict(recounted))

    chunks = scan()
    recounted = recount()
    chunks >> recounted
    [load(convert.expand(chunk=chunks)), recounted] >> report()


mrt_reconcile()
