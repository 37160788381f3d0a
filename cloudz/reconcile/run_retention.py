"""Keep ``CLOUDZ_RUN_RETENTION_DAYS`` of per-file runs in Airflow's DB, and lose no answer.

A year of files is ~2.3M ``mrt_file`` runs and ~4.6M task instances: the api-server's listings
and the UI's pages slow down with them (bench/year_of_runs.py). Once a run has ended, its
outcome is in the files catalog (``cloudz.warehouse.file_catalog``: state, rows, load job,
stage and reason of a failure), and the receiver answers from the catalog for a file whose run
is gone. So runs older than the retention are removed with Airflow's own ``db clean`` (their
task instances and XComs go with them by foreign key; the rows are kept in Airflow's archive
tables ``_airflow_deleted__*`` unless ``--skip-archive``), except that the cut-off moves back
before the oldest run that could still lose an answer:

- a run not ended (queued, running): its outcome is not in the catalog yet;
- an ended run with no row in the catalog (its catalog step never ran): until it is re-run.

Airflow's archive tables are kept ``CLOUDZ_RUN_ARCHIVE_DAYS`` (default 7: the window to get a
wrongly cleaned row back), then dropped: ``db clean`` writes one per table and batch of 10,000
rows (the clean of a year's backlog left ~3,800: 21M XComs), and nothing else drops them.

After a clean the cleaned tables are vacuumed and analyzed: ``db clean`` only deletes, and until
autovacuum comes by the API's counts (every list returns ``total_entries``) read every dead row
and plan on stale statistics (bench/README.md, "A year of runs").

Two indexes Airflow does not ship are added (``INDEXES``, ``CREATE INDEX CONCURRENTLY IF NOT
EXISTS``: no lock on the table's writers). Without them, at 30 days of runs (189k), the runs
list sorted by start date (a column of the UI's runs list) joined and sorted every run kept
(874 ms against 30 on an empty DB), and the grid's default order for ``mrt_file``
(``logical_date, id``: the receiver's runs have no logical date, so one tie of 189k runs) sorted
them all (118 ms against 16).

Run as ``python -m cloudz.reconcile.run_retention`` in Airflow's environment (it reads the
metadata DB through Airflow's ORM, as ``airflow db clean`` does); the maintenance DAG
``mrt_maintenance`` runs it daily.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

DAG_ID = "mrt_file"
RETENTION_ENV = "CLOUDZ_RUN_RETENTION_DAYS"
#: per-file runs kept by default: the reconcile's look-back (3 days) and a month of history
#: for operators; every older outcome is in the files catalog
DEFAULT_DAYS = 30.0
#: the tables ``db clean`` cleans for the per-file DAG (task instances go with their runs)
TABLES = ("dag_run", "task_instance", "xcom", "log", "task_instance_history")
ARCHIVE_ENV = "CLOUDZ_RUN_ARCHIVE_DAYS"
DEFAULT_ARCHIVE_DAYS = 7.0
#: ``db clean``'s archive tables: ``_airflow_deleted__<table>__<UTC time>[__b<batch>]``
ARCHIVE_NAME = re.compile(r"^_airflow_deleted__(?P<table>.+)__(?P<at>\d{14})(?:__b\d+)?$")
#: indexes of the metadata DB Airflow does not create: name -> table and columns
INDEXES = {
    "cloudz_dag_run_start_date": "dag_run (start_date)",
    "cloudz_dag_run_dag_id_logical_date_id": "dag_run (dag_id, logical_date, id)",
}
#: run ids looked up in the catalog per query
CHUNK = 10_000
ENDED = ("success", "failed")


def retention_days(environ: dict[str, str] | None = None) -> float:
    """The setting; 0 or less turns retention off."""
    env = os.environ if environ is None else environ
    return float(env.get(RETENTION_ENV) or DEFAULT_DAYS)


def archive_days(environ: dict[str, str] | None = None) -> float:
    """Days the archive tables of this clean's tables are kept."""
    env = os.environ if environ is None else environ
    return float(env.get(ARCHIVE_ENV) or DEFAULT_ARCHIVE_DAYS)


def expired_archives(names: Iterable[str], now: dt.datetime, days: float) -> list[str]:
    """The archive tables of ``TABLES`` written more than ``days`` before ``now``, sorted."""
    before = now - dt.timedelta(days=days)
    out = []
    for name in names:
        m = ARCHIVE_NAME.match(name)
        if m and m["table"] in TABLES:
            written = dt.datetime.strptime(m["at"], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
            if written < before:
                out.append(name)
    return sorted(out)


def _postgres() -> Engine | None:
    """Airflow's metadata DB engine when it is PostgreSQL (the maintenance below is), else
    None; an engine not configured is an error, not a database to skip."""
    from airflow import settings

    if settings.engine is None:
        raise RuntimeError("Airflow's metadata DB engine is not configured")
    return settings.engine if settings.engine.dialect.name == "postgresql" else None


def drop_archives(now: dt.datetime, days: float) -> list[str]:
    """Drop :func:`expired_archives` from the metadata DB; their names."""
    from sqlalchemy import text

    if (engine := _postgres()) is None:
        return []
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE tablename LIKE :prefix"),
            {"prefix": "\\_airflow\\_deleted\\_\\_%"},
        ).scalars()
        names = expired_archives(tables, now, days)
        for name in names:
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    log.info("dropped %d archive tables older than %g days: %s", len(names), days, names[:20])
    return names


def cutoff(now: dt.datetime, days: float, held: Iterable[dt.datetime | None]) -> dt.datetime | None:
    """Runs that started before this are cleaned: ``days`` ago, or just before the oldest
    run ``held`` (one that could still lose its answer); None when retention is off."""
    if days <= 0:
        return None
    before = now - dt.timedelta(days=days)
    starts = [s for s in held if s is not None]
    if starts:
        before = min(before, min(starts) - dt.timedelta(seconds=1))
    return before


def unanswered(run_ids: Sequence[str], catalogued: set[str]) -> list[str]:
    """The ended runs whose outcome the catalog does not hold."""
    return [r for r in run_ids if r not in catalogued]


def catalogued_runs(client: bigquery.Client, files_ref: str, run_ids: Sequence[str]) -> set[str]:
    """Those of ``run_ids`` that have a row in the files catalog (one query per ``CHUNK``;
    the catalog is small: its ``run_id`` column, ~100 bytes a file)."""
    from google.cloud import bigquery

    found: set[str] = set()
    for lo in range(0, len(run_ids), CHUNK):
        job = client.query(
            f"SELECT DISTINCT run_id FROM `{files_ref}` WHERE run_id IN UNNEST(@ids)",
            job_config=bigquery.QueryJobConfig(
                query_parameters=[
                    bigquery.ArrayQueryParameter("ids", "STRING", list(run_ids[lo : lo + CHUNK]))
                ]
            ),
        )
        found.update(str(row["run_id"]) for row in job.result())
    return found


def _old_runs(
    before: dt.datetime,
) -> tuple[list[tuple[str, dt.datetime | None]], list[dt.datetime | None]]:
    """Ended runs of the per-file DAG started before ``before`` (id, start), and the starts of
    the unfinished ones."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        old = DagRun.dag_id == DAG_ID, DagRun.start_date < before
        ended = session.execute(
            select(DagRun.run_id, DagRun.start_date).where(*old, DagRun.state.in_(ENDED))
        ).all()
        unfinished = session.scalars(
            select(DagRun.start_date).where(*old, DagRun.state.not_in(ENDED))
        ).all()
    return [(str(r), s) for r, s in ended], list(unfinished)


def plan(
    now: dt.datetime, days: float, client: bigquery.Client | None, files_ref: str
) -> dict[str, Any]:
    """The cut-off and why: runs held back, and how many runs are older than the setting."""
    first = cutoff(now, days, [])
    if first is None:
        return {"before": None, "reason": f"{RETENTION_ENV} <= 0: retention off"}
    ended, unfinished = _old_runs(first)
    held_ids: list[str] = []
    if ended and client is not None:
        catalogued = catalogued_runs(client, files_ref, [r for r, _ in ended])
        held_ids = unanswered([r for r, _ in ended], catalogued)
    starts = dict(ended)
    before = cutoff(now, days, [*unfinished, *(starts[r] for r in held_ids)])
    return {
        "before": before.isoformat() if before else None,
        "older_than_setting": len(ended) + len(unfinished),
        "held_unfinished": len(unfinished),
        "held_not_in_catalog": held_ids[:20],
        "held_not_in_catalog_count": len(held_ids),
    }


def clean(before: dt.datetime, *, skip_archive: bool, batch_size: int, dry_run: bool) -> None:
    """Airflow's ``db clean`` of the per-file DAG's rows older than ``before``."""
    import pendulum
    from airflow.utils.db_cleanup import run_cleanup

    run_cleanup(
        clean_before_timestamp=pendulum.instance(before),
        table_names=list(TABLES),
        dag_ids=[DAG_ID],
        dry_run=dry_run,
        confirm=False,
        skip_archive=skip_archive,
        batch_size=batch_size,
    )


def vacuum(tables: Sequence[str] = TABLES) -> dict[str, float]:
    """``VACUUM (ANALYZE)`` of ``tables`` on PostgreSQL (each in autocommit: VACUUM cannot run
    in a transaction); the seconds each took. Other databases: nothing."""
    import time

    from sqlalchemy import text

    if (engine := _postgres()) is None:
        return {}
    took: dict[str, float] = {}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            t0 = time.monotonic()
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))
            took[table] = round(time.monotonic() - t0, 2)
    return took


def ensure_indexes() -> list[str]:
    """Create the missing ``INDEXES`` on PostgreSQL (concurrently: the scheduler keeps
    writing); the names created. A concurrent build that failed leaves an invalid index of
    that name, which ``IF NOT EXISTS`` would keep forever: it is dropped and built again."""
    from sqlalchemy import text

    if (engine := _postgres()) is None:
        return []
    created = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        valid: dict[str, bool] = dict(
            conn.execute(
                text(
                    "SELECT c.relname, i.indisvalid FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ANY(:names)"
                ),
                {"names": list(INDEXES)},
            ).all()
        )
        for name, on in INDEXES.items():
            if valid.get(name):
                continue
            if name in valid:
                conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
            conn.execute(text(f"CREATE INDEX CONCURRENTLY {name} ON {on}"))
            created.append(name)
    return created


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=None, help=f"default: {RETENTION_ENV}")
    ap.add_argument("--skip-archive", action="store_true", help="no _airflow_deleted__ tables")
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--dry-run", action="store_true", help="print the plan, clean nothing")
    ap.add_argument("--no-vacuum", action="store_true", help="leave the tables to autovacuum")
    ap.add_argument("--archive-days", type=float, default=None, help=f"default: {ARCHIVE_ENV}")
    ap.add_argument(
        "--no-catalog-check",
        action="store_true",
        help="do not hold runs missing from the files catalog (a DB without a warehouse)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from cloudz.settings import Settings
    from cloudz.warehouse.clients import bigquery_client

    settings = Settings.from_env()
    created = [] if args.dry_run else ensure_indexes()
    days = retention_days() if args.days is None else args.days
    client = None if args.no_catalog_check else bigquery_client(settings)
    result = plan(dt.datetime.now(dt.UTC), days, client, settings.files_ref)
    if result.get("held_not_in_catalog_count"):
        log.warning(
            "%d ended runs have no row in the files catalog: kept (re-run them): %s",
            result["held_not_in_catalog_count"],
            result["held_not_in_catalog"],
        )
    if result["before"] is not None:
        clean(
            dt.datetime.fromisoformat(result["before"]),
            skip_archive=args.skip_archive,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
        )
        if not args.dry_run:
            keep = archive_days() if args.archive_days is None else args.archive_days
            result["archives_dropped"] = len(drop_archives(dt.datetime.now(dt.UTC), keep))
        if not (args.dry_run or args.no_vacuum):
            result["vacuum_s"] = vacuum()
    result["indexes_created"] = created
    print(json.dumps(result))


if __name__ == "__main__":
    main()
