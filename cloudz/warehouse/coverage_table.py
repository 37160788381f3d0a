"""The coverage table: per collector, day and kind, what the cadence promises and what came.

The reconcile DAG lists the bucket for its days and appends one row per (day, collector,
kind) it looked at: files *expected* by the collector's cadence (RIBs every 2 hours, UPDATES
every 15 minutes; for today only the slots already past), files *archived* (raw objects whose
name falls on that day), the newest file's time, and two flags: *known* (the collector is in
``include/collectors.yaml``) and *silent* (no file of the kind for longer than the cadence
allows). Rows are appended by streaming insert, never updated; ``coverage_latest`` keeps the
newest row of each (day, collector, kind). With the files catalog (loaded / partial / failed
per file) it answers "what is missing, what failed, who went silent" in one query
(docs/operations.md).

MONTH-partitioned on ``day`` (a table holds at most 10,000 partitions; days of 25 years
would be 9,000) and clustered on collector and kind: a query of some days reads their month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from cloudz.warehouse import append_only

if TYPE_CHECKING:
    from google.cloud import bigquery

#: (name, type, mode, description) of the table's columns
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("day", "DATE", "REQUIRED", "UTC day of the files' names"),
    ("collector", "STRING", "REQUIRED", "the collector, from the archive paths"),
    ("kind", "STRING", "REQUIRED", "RIBS or UPDATES"),
    ("expected", "INT64", "REQUIRED", "files the cadence promises that day (so far, today)"),
    ("archived", "INT64", "REQUIRED", "raw files in the bucket named on that day"),
    ("latest_dump", "TIMESTAMP", "NULLABLE", "newest file of the kind seen by the check"),
    ("known", "BOOL", "REQUIRED", "the collector is in include/collectors.yaml"),
    ("silent", "BOOL", "REQUIRED", "no file of the kind for longer than its cadence allows"),
    ("checked_at", "TIMESTAMP", "REQUIRED", "when the reconcile run looked"),
)


@dataclass(frozen=True)
class CoverageRow:
    day: str
    collector: str
    kind: str
    expected: int
    archived: int
    latest_dump: str | None
    known: bool
    silent: bool
    checked_at: str

    def row_id(self) -> str:
        """BigQuery's insertId: a resent row of the same check is dropped."""
        return f"{self.day}|{self.collector}|{self.kind}|{self.checked_at}"


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def record(client: bigquery.Client, table_ref: str, rows: list[CoverageRow]) -> None:
    """Append ``rows`` in streaming batches."""
    append_only.append(client, table_ref, [asdict(r) for r in rows], [r.row_id() for r in rows])


def last_seen(
    client: bigquery.Client, table_ref: str, since: dt.date
) -> dict[tuple[str, str], dt.datetime]:
    """The newest file each check since ``since`` saw, per (collector, kind): reads the
    ``latest_dump`` column of those months (~1.5 MB a month at 60 collectors)."""
    from google.cloud import bigquery

    sql = (
        f"SELECT collector, kind, MAX(latest_dump) AS latest FROM `{table_ref}` "
        "WHERE day >= @since AND latest_dump IS NOT NULL GROUP BY collector, kind"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("since", "DATE", since)]
    )
    return {
        (r["collector"], r["kind"]): r["latest"].astimezone(dt.UTC)
        for r in client.query(sql, job_config=config).result()
    }


def ensure_tables(client: bigquery.Client, table_ref: str) -> None:
    """Create the ``coverage`` table (MONTH-partitioned on ``day``) and ``coverage_latest``."""
    append_only.ensure(
        client,
        table_ref,
        COLUMNS,
        partition_field="day",
        clustering=["collector", "kind"],
        key="day, collector, kind",
        order="checked_at",
    )
