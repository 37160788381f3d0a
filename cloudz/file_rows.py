"""The routes-table queries that concern one archived file, each bounded to its partitions.

Every per-file query filters the partition column (``timestamp``, DAY) on the days the file's
rows fall in, taken from the conversion report's time range, then the clustering column
``collector``, then ``source_path``. On BigQuery a query without the partition filter is billed
for the columns it reads in every partition of the table, so its cost would grow with the
archive; with it, the cost is bounded by the file's own days (docs/warehouse.md gives the
figures). ``source_sha256`` is not filtered on: an archive path is never overwritten, so the
path names one file version, and the 64-byte column would add half the bytes read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery


@dataclass(frozen=True)
class FileRowCounts:
    rows: int
    distinct_rows: int
    min_index: int | None
    max_index: int | None

    def exact(self, expected: int) -> bool:
        """Each ``row_index`` of ``0..expected-1`` exactly once, nothing else."""
        if self.rows != expected or self.distinct_rows != expected:
            return False
        return expected == 0 or (self.min_index == 0 and self.max_index == expected - 1)


@dataclass(frozen=True)
class FileRows:
    """Selects the rows of one file: its collector and path, within the days they fall in."""

    collector: str
    source_path: str
    first_day: date
    last_day: date

    @classmethod
    def of(cls, collector: str, source_path: str, time_range: tuple[int, int]) -> FileRows:
        """``time_range``: first and last row timestamp, microseconds since the epoch."""
        lo, hi = (datetime.fromtimestamp(t / 1e6, UTC).date() for t in time_range)
        return cls(collector, source_path, lo, hi)

    @property
    def days(self) -> int:
        """How many DAY partitions the file's rows fall in."""
        return (self.last_day - self.first_day).days + 1

    def where(self) -> str:
        """The WHERE clause (named parameters ``day_lo``, ``day_hi``, ``collector``, ``path``)."""
        return (
            "timestamp >= @day_lo AND timestamp < @day_hi "
            "AND collector = @collector AND source_path = @path"
        )

    def _values(self) -> list[tuple[str, str, Any]]:
        lo = datetime.combine(self.first_day, time(), UTC)
        hi = datetime.combine(self.last_day + timedelta(days=1), time(), UTC)
        return [
            ("day_lo", "TIMESTAMP", lo),
            ("day_hi", "TIMESTAMP", hi),
            ("collector", "STRING", self.collector),
            ("path", "STRING", self.source_path),
        ]

    def query_parameters(self) -> list[bigquery.ScalarQueryParameter]:
        from google.cloud import bigquery

        return [bigquery.ScalarQueryParameter(n, t, v) for n, t, v in self._values()]

    # --- the queries ----------------------------------------------------------
    def count(self, client: bigquery.Client, table_ref: str) -> FileRowCounts:
        """Rows, distinct ``row_index`` and their range: the exactly-once proof (a SELECT)."""
        from google.cloud import bigquery

        job = client.query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT row_index) AS d, "
            f"MIN(row_index) AS lo, MAX(row_index) AS hi FROM `{table_ref}` "
            f"WHERE {self.where()}",
            job_config=bigquery.QueryJobConfig(query_parameters=self.query_parameters()),
        )
        row = next(iter(job.result()))
        return FileRowCounts(
            rows=int(row["n"]),
            distinct_rows=int(row["d"]),
            min_index=None if row["lo"] is None else int(row["lo"]),
            max_index=None if row["hi"] is None else int(row["hi"]),
        )

    def delete(self, client: bigquery.Client, table_ref: str) -> int:
        """Remove the file's rows (mutating DML: only on the repair path, never the first load)."""
        from google.cloud import bigquery

        job = client.query(
            f"DELETE FROM `{table_ref}` WHERE {self.where()}",
            job_config=bigquery.QueryJobConfig(query_parameters=self.query_parameters()),
        )
        job.result()
        return int(job.num_dml_affected_rows or 0)
