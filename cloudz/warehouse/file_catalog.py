"""The files catalog: one row per archived file version and what became of it.

BigQuery table ``files`` (beside ``routes``) answers "which files of collector X on day D
are archived, loaded, partial, failed, missing" without touching the routes table. It is
append-only: each final outcome of a file's run adds a row by a streaming insert (no
mutating DML, no load job against the table-write quotas in the hot path), with an
``insertId`` per run and try so BigQuery drops a resent row. A file run again (a cleared
task, a re-upload after a failure) adds a newer row; the view ``files_latest`` keeps the
newest row per (archive path, sha256). docs/catalog.md has the example queries, which the
tests run.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cloudz import load_policy
from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile
from cloudz.warehouse import append_only

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)

STATE_LOADED = "loaded"
STATE_PARTIAL = "partial"
STATE_FAILED = "failed"
#: an operator moved the version out of the archive (``cloudz-quarantine``): its rows are deleted
STATE_QUARANTINED = "quarantined"
#: archived and verified, not converted or loaded: the load policy skips it (the backfill
#: loads it on request; the reconcile does not heal it)
STATE_NOT_LOADED_BY_POLICY = load_policy.STATE_NOT_LOADED_BY_POLICY

#: (name, type, mode, description) of the table's columns
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("archive_path", "STRING", "REQUIRED", "<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/<file>"),
    ("collector", "STRING", "REQUIRED", "the collector, from the archive path"),
    ("kind", "STRING", "REQUIRED", "RIBS or UPDATES"),
    ("dump_time", "TIMESTAMP", "NULLABLE", "the time in the file's name, in UTC (a label)"),
    ("month", "DATE", "REQUIRED", "first day of the YYYY.MM of the path: the partition"),
    ("sha256", "STRING", "REQUIRED", "sha256 of the archived bytes"),
    ("size", "INT64", "NULLABLE", "bytes archived"),
    ("state", "STRING", "REQUIRED", "loaded, partial, failed or not_loaded_by_policy"),
    ("stage", "STRING", "NULLABLE", "the stage that failed (verify, convert, load, check)"),
    ("reason", "STRING", "NULLABLE", "why it failed, or the damage"),
    ("rows", "INT64", "NULLABLE", "rows converted (= rows loaded when loaded or partial)"),
    ("records", "INT64", "NULLABLE", "MRT records read"),
    ("parse_errors", "INT64", "NULLABLE", "records that did not decode"),
    ("damage_offset", "INT64", "NULLABLE", "byte offset of the damage in the MRT stream"),
    ("first_record", "TIMESTAMP", "NULLABLE", "earliest record timestamp"),
    ("last_record", "TIMESTAMP", "NULLABLE", "latest record timestamp"),
    ("run_id", "STRING", "NULLABLE", "the Airflow run"),
    ("load_job", "STRING", "NULLABLE", "the BigQuery load job that appended the rows"),
    ("recorded_at", "TIMESTAMP", "REQUIRED", "when this row was written"),
)


@dataclass(frozen=True)
class CatalogRow:
    archive_path: str
    collector: str
    kind: str
    dump_time: str | None
    month: str
    sha256: str
    size: int | None
    state: str
    stage: str | None
    reason: str | None
    rows: int | None
    records: int | None
    parse_errors: int | None
    damage_offset: int | None
    first_record: str | None
    last_record: str | None
    run_id: str | None
    load_job: str | None
    recorded_at: str


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _micros(value: Any) -> str | None:
    """The converter's ``time_range`` ends are microseconds since the epoch."""
    if value is None:
        return None
    return _iso(dt.datetime.fromtimestamp(int(value) / 1e6, dt.UTC))


def _time_note(report: dict[str, Any]) -> str | None:
    """Why rows dated outside the file's window were not loaded (the converter's words)."""
    from cloudz.archive.time_window import describe

    window = report.get("time_window")
    lo_hi = None if not window else (int(window[0]), int(window[1]))
    return describe(lo_hi, int(report.get("time_dropped") or 0))


def row_of(
    file: ArchivedFile,
    *,
    state: str,
    report: dict[str, Any] | None = None,
    stage: str | None = None,
    reason: str | None = None,
    run_id: str | None = None,
    load_job: str | None = None,
) -> CatalogRow:
    """The catalog row of one outcome; ``report`` is the converter's report (a dict)."""
    report = report or {}
    damage = report.get("damage") or {}
    time_range = report.get("time_range") or (None, None)
    if state == STATE_PARTIAL and not reason:
        reason = damage.get("reason") or _time_note(report)
    return CatalogRow(
        archive_path=file.archive_path,
        collector=file.collector,
        kind=file.kind,
        dump_time=_iso(file.dump_time),
        month=file.month.isoformat(),
        sha256=file.sha256,
        size=file.size or None,
        state=state,
        stage=stage,
        reason=reason[:2000] if reason else None,
        rows=report.get("rows"),
        records=report.get("records"),
        parse_errors=report.get("parse_errors"),
        damage_offset=damage.get("offset"),
        first_record=_micros(time_range[0]),
        last_record=_micros(time_range[1]),
        run_id=run_id,
        load_job=load_job,
        recorded_at=_iso(dt.datetime.now(dt.UTC)) or "",
    )


def loaded_row(
    file: ArchivedFile, report: dict[str, Any], *, run_id: str, load_job: str | None
) -> CatalogRow:
    """The row of a file whose rows are in the table: *partial* when the converter said so."""
    state = STATE_PARTIAL if report.get("status") == "partial" else STATE_LOADED
    return row_of(file, state=state, report=report, run_id=run_id, load_job=load_job)


def not_loaded_row(file: ArchivedFile, reason: str, *, run_id: str | None) -> CatalogRow:
    """The row of a file archived and verified that the load policy leaves unloaded;
    ``reason`` is the policy's words (``load_policy.Decision.reason``)."""
    return row_of(file, state=STATE_NOT_LOADED_BY_POLICY, reason=reason, run_id=run_id)


def record(client: bigquery.Client, table_ref: str, row: CatalogRow, row_id: str) -> None:
    """Append ``row``; ``row_id`` (the run and try) lets BigQuery drop a resent copy."""
    errors = client.insert_rows_json(table_ref, [asdict(row)], row_ids=[row_id])
    if errors:
        raise RuntimeError(f"the files catalog refused a row of {row.archive_path}: {errors}")


def record_many(
    client: bigquery.Client, table_ref: str, rows: list[CatalogRow], row_ids: list[str]
) -> None:
    """Append ``rows`` in streaming batches."""
    append_only.append(client, table_ref, [asdict(r) for r in rows], row_ids)


def stored_rows(client: bigquery.Client, table_ref: str, archive_path: str) -> list[dict[str, Any]]:
    """Every catalog row of ``archive_path``, oldest first, dates and times as text.

    Read so that any row the table already holds comes back: rows written before the
    ``archive-years`` rule carry a month such as 0000-01-01, which the BigQuery client cannot
    turn into a date (it raised); as text it reads. A path whose month is no DATE is looked
    up in every partition (the catalog is small: one row per file outcome).
    """
    from google.cloud import bigquery

    columns = ", ".join(
        f"CAST({name} AS STRING) AS {name}" if kind in ("DATE", "TIMESTAMP") else name
        for name, kind, _mode, _doc in COLUMNS
    )
    params = [bigquery.ScalarQueryParameter("path", "STRING", archive_path)]
    where = "archive_path = @path"
    month = paths.stored_month(archive_path)
    if month is not None and 1 <= month[0] <= 9999:
        where = f"month = @month AND {where}"
        params.append(bigquery.ScalarQueryParameter("month", "DATE", dt.date(*month, 1)))
    job = client.query(
        f"SELECT {columns} FROM `{table_ref}` WHERE {where} ORDER BY recorded_at",
        job_config=bigquery.QueryJobConfig(query_parameters=params),
    )
    return [dict(row.items()) for row in job.result()]


def ensure_tables(client: bigquery.Client, table_ref: str) -> None:
    """Create the ``files`` table (MONTH-partitioned on ``month``) and ``files_latest``."""
    append_only.ensure(
        client,
        table_ref,
        COLUMNS,
        partition_field="month",
        clustering=["collector", "kind", "state"],
        key="archive_path, sha256",
        order="recorded_at",
    )
