"""
### RouteViews' archive, mirrored and backfilled in batches

Two DAGs, one logic (`cloudz.batch`), each run covering a time range of the source archive
(`CLOUDZ_ARCHIVE_SOURCE`: archive.routeviews.org, or a local tree in its layout):

- **`mrt_mirror`**, hourly: the files named in the last `CLOUDZ_MIRROR_LOOKBACK_HOURS`
  (48) up to `CLOUDZ_MIRROR_SETTLE_MINUTES` (60) before the run, so a file that appeared
  late, or that a collector never uploaded, comes in within the hour.
- **`mrt_backfill`**, daily with `catchup=False`: once turned on, the scheduler runs only
  the latest complete day (yesterday, beside the mirror, finding it done); history comes in
  as an Airflow backfill of it, one run per day:
  `cloudz-backfill --from 2003-01-01 --to 2003-12-31`, or
  `airflow backfill create --dag-id mrt_backfill --from-date 2003-01-01 --to-date 2003-12-31`.
  A day because a day of RouteViews (~6,400 files today, fewer in early years) fits one
  load job (10,000 URIs) and the task-mapping limit, fails and re-runs alone, and reads one
  index page per collector and kind; a month would be ~190,000 files per run.

Each run: **`plan`** lists the source for its range, the bucket and the files catalog, and
cuts what the archive lacks (to fetch) or has not loaded (to convert) into chunks of about
64 MB; **`convert`** (mapped, one task per chunk, within `max_map_length`) fetches a missing
file through the receiver's `ArchiveStore` (sha256 in metadata, create-only, never replaced)
and converts that same copy, or verifies and converts an archived one with the per-file
DAG's own step; **`load`** loads them all in as few load jobs as BigQuery allows, each file
claimed first so the live path never loads it twice, and writes each file's catalog row.
A re-run of a range finds everything in the catalog and converts nothing; a killed run
resumes from the load jobs' ledger. A file the load policy skips (`cloudz.load_policy`) is
fetched and archived but not converted (catalog state `not_loaded_by_policy`); a run with
the conf `ignore_load_policy` (`cloudz-backfill --ignore-load-policy`) loads it.

Both are paused when first deployed: set the source, then turn them on (a backfill's runs
only start while its DAG is on). Live uploads keep priority: these tasks weigh 1 against the
per-file DAG's 100, the conversions take slots of the `backfill` pool
(`CLOUDZ_BACKFILL_SLOTS`), the load a slot of the routes-table pool, and one run of each DAG
is active at a time.

#### When runs fail

- **A file wrong for good does not fail the run**: a wrong sha256, "not an MRT file" or a
  file past the converter's limits (a bomb) is written to the files catalog as *failed*,
  left out of the load, and listed on Browse → Coverage under "Failed files". Re-running
  the range cannot fix it (the next plans skip it: it failed at verify or convert); the
  bytes are at fault (docs/runbook.md, `FilesFailing`).
- **A file the source cannot serve, or whose archive path holds other bytes** (CONFLICT) is
  left for the next run's plan (the `load` task's XCom `left_for_next_run`): no action,
  unless it stays there.
- **A failed task** (the source, the object store or BigQuery did not answer; a timeout)
  was retried twice already: read its log (the run's page → the task → Logs), then clear
  it, with downstream, from the run's page, or re-run the day with
  `cloudz-backfill --from DAY --to DAY --again`. Safe: archiving is create-only, the load
  claims and the ledger keep every file's rows single, and a planned-again range converts
  only what the catalog does not hold as loaded.
- **A run that never starts**: the DAG is paused (turn it on), or the `backfill` pool has
  no free slot (Admin → Pools).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

GCP_CONN_ID = "google_cloud_default"
TABLE_WRITES_POOL = os.environ.get("CLOUDZ_TABLE_WRITES_POOL") or "routes_table_writes"
BACKFILL_POOL = os.environ.get("CLOUDZ_BACKFILL_POOL") or "backfill"
TASK_TIMEOUT = timedelta(seconds=float(os.environ.get("CLOUDZ_TASK_TIMEOUT_SECONDS") or 3600))
#: RouteViews' first MRT files (route-views2, late 2001)
FIRST_DAY = pendulum.datetime(2001, 10, 1, tz="UTC")


def _settings() -> Any:
    from cloudz.settings import Settings

    return Settings.from_env()


def _range(mirror: bool) -> tuple[datetime, datetime]:
    """The run's range of file names: its data interval, or the mirror's window."""
    context = get_current_context()
    start, end = context["data_interval_start"], context["data_interval_end"]
    if start is None or end is None:
        raise ValueError("a mirror or backfill run needs a data interval (a scheduled run)")
    if mirror:
        settings = _settings()
        end = end - timedelta(minutes=settings.mirror_settle_minutes)
        start = end - timedelta(hours=settings.mirror_lookback_hours)
    return start, end


def archive_dag(dag_id: str, *, schedule: str, mirror: bool, doc: str) -> Any:
    @dag(
        dag_id=dag_id,
        # data intervals (a bare "@daily" gives none in Airflow 3): a run covers [start, end)
        schedule=CronDataIntervalTimetable(schedule, timezone="UTC"),
        start_date=FIRST_DAY,
        catchup=False,
        max_active_runs=1,
        # off until an operator has set the source and turns it on (a backfill needs it on)
        is_paused_upon_creation=True,
        tags=["cloudz", "mrt", "batch"],
        params={
            "source": Param(
                "",
                type="string",
                description="archive URL or directory (default: CLOUDZ_ARCHIVE_SOURCE)",
            ),
            "collectors": Param(
                "",
                type="string",
                description="comma-separated collectors (default: CLOUDZ_ARCHIVE_COLLECTORS)",
            ),
            "ignore_load_policy": Param(
                False,
                type="boolean",
                description="load every file of the range, also those the load policy skips",
            ),
        },
        doc_md=doc,
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
    def archive_range() -> None:
        @task(pool=BACKFILL_POOL)
        def plan(params: dict[str, Any] | None = None) -> list[list[dict[str, Any]]]:
            """The chunks to convert; what was listed, fetched and skipped: XCom ``summary``."""
            import dataclasses

            from cloudz.batch import run_range

            params = params or {}
            start, end = _range(mirror)
            settings = _settings()
            settings = dataclasses.replace(
                settings,
                archive_source=params.get("source") or settings.archive_source,
                archive_collectors=params.get("collectors") or settings.archive_collectors,
            )
            planned = run_range.plan(
                GCP_CONN_ID,
                settings,
                start,
                end,
                ignore_load_policy=bool(params.get("ignore_load_policy")),
            )
            get_current_context()["ti"].xcom_push(key="summary", value=planned["summary"])
            chunks: list[list[dict[str, Any]]] = planned["chunks"]
            return chunks

        @task(pool=BACKFILL_POOL)
        def convert(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            from cloudz.batch import run_range

            return run_range.convert(GCP_CONN_ID, get_current_context(), chunk)

        @task(pool=TABLE_WRITES_POOL)
        def load(converted: Any) -> dict[str, Any]:
            from cloudz.batch import run_range

            return run_range.load(GCP_CONN_ID, get_current_context(), converted)

        load(convert.expand(chunk=plan()))

    return archive_range()


archive_dag(
    "mrt_mirror",
    schedule="@hourly",
    mirror=True,
    doc=__doc__ or "",
)
archive_dag(
    "mrt_backfill",
    schedule="@daily",
    mirror=False,
    doc=__doc__ or "",
)
