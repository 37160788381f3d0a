"""The audit of quarantines: an operations table, private, append-only like the others.

One row per step an operator's ``cloudz-quarantine`` completes for a file version: *started*
(before anything moves: who, when, why, the quarantined bytes' sha256 and size), *quarantined*
(every step done: where the objects went, how many rows were deleted) and, once the path holds
other bytes, *replaced* (the replacement's sha256). Rows are never updated (streaming insert
with an ``insertId``, :mod:`cloudz.warehouse.append_only`); ``quarantine_latest`` keeps the
newest row per (archive path, sha256).

Private like the coverage table (it names operators and their reasons): not the public
dataset's files catalog. MONTH-partitioned on the path's month, clustered on collector.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cloudz.archive import paths
from cloudz.warehouse import append_only

if TYPE_CHECKING:
    from google.cloud import bigquery

STATE_STARTED = "started"
STATE_QUARANTINED = "quarantined"
STATE_REPLACED = "replaced"

#: (name, type, mode, description) of the table's columns
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("archive_path", "STRING", "REQUIRED", "<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/<file>"),
    ("collector", "STRING", "REQUIRED", "the collector, from the archive path"),
    ("month", "DATE", "REQUIRED", "first day of the YYYY.MM of the path: the partition"),
    ("sha256", "STRING", "REQUIRED", "sha256 of the quarantined bytes"),
    ("size", "INT64", "NULLABLE", "bytes quarantined"),
    ("state", "STRING", "REQUIRED", "started, quarantined or replaced"),
    ("reason", "STRING", "REQUIRED", "why the operator quarantined the file"),
    ("operator", "STRING", "REQUIRED", "who ran cloudz-quarantine (OS user, host, Google account)"),
    ("quarantine_prefix", "STRING", "REQUIRED", "gs://<work bucket>/_quarantine/<path>/<sha256>/"),
    ("avro_objects", "INT64", "NULLABLE", "Avro parts moved with the raw file"),
    ("rows_deleted", "INT64", "NULLABLE", "rows of this version deleted from the routes table"),
    ("replacement_sha256", "STRING", "NULLABLE", "sha256 of the bytes archived at the path since"),
    ("recorded_at", "TIMESTAMP", "REQUIRED", "when this row was written"),
)


@dataclass(frozen=True)
class AuditRow:
    archive_path: str
    collector: str
    month: str
    sha256: str
    size: int | None
    state: str
    reason: str
    operator: str
    quarantine_prefix: str
    avro_objects: int | None
    rows_deleted: int | None
    replacement_sha256: str | None
    recorded_at: str

    def row_id(self) -> str:
        """BigQuery's insertId: a resent row of the same step is dropped."""
        return f"{self.archive_path}|{self.sha256}|{self.state}|{self.recorded_at}"


def row_of(
    path: paths.ArchivePath,
    sha256: str,
    *,
    state: str,
    reason: str,
    operator: str,
    quarantine_prefix: str,
    size: int | None = None,
    avro_objects: int | None = None,
    rows_deleted: int | None = None,
    replacement_sha256: str | None = None,
) -> AuditRow:
    return AuditRow(
        archive_path=path.path,
        collector=path.collector,
        month=path.month_date.isoformat(),
        sha256=sha256,
        size=size,
        state=state,
        reason=reason[:2000],
        operator=operator,
        quarantine_prefix=quarantine_prefix,
        avro_objects=avro_objects,
        rows_deleted=rows_deleted,
        replacement_sha256=replacement_sha256,
        recorded_at=dt.datetime.now(dt.UTC).isoformat(),
    )


def record(client: bigquery.Client, table_ref: str, row: AuditRow) -> None:
    append_only.append(client, table_ref, [asdict(row)], [row.row_id()])


def rows_of(
    client: bigquery.Client, table_ref: str, path: paths.ArchivePath
) -> list[dict[str, Any]]:
    """Every audit row of ``path`` (all versions), oldest first; one month partition read."""
    from google.cloud import bigquery

    columns = ", ".join(
        f"CAST({name} AS STRING) AS {name}" if kind in ("DATE", "TIMESTAMP") else name
        for name, kind, _mode, _doc in COLUMNS
    )
    job = client.query(
        f"SELECT {columns} FROM `{table_ref}` "
        "WHERE month = @month AND archive_path = @path ORDER BY recorded_at",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("month", "DATE", path.month_date),
                bigquery.ScalarQueryParameter("path", "STRING", path.path),
            ]
        ),
    )
    return [dict(row.items()) for row in job.result()]


def ensure_tables(client: bigquery.Client, table_ref: str) -> None:
    """Create the ``quarantine`` table (MONTH-partitioned on ``month``) and its ``_latest`` view."""
    append_only.ensure(
        client,
        table_ref,
        COLUMNS,
        partition_field="month",
        clustering=["collector"],
        key="archive_path, sha256",
        order="recorded_at",
    )
