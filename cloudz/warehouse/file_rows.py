"""The routes-table queries that concern one archived file, each bounded to its partitions.

The routes table is MONTH-partitioned on ``timestamp`` with ``require_partition_filter``
(``cloudz.warehouse.schema``): BigQuery refuses a query of it without a filter on ``timestamp``
usable for partition elimination. :class:`TimeWindow` is that filter, the one every query of the
table here, in the tools and in the tests carries. A per-file query filters the days the file's rows
fall in, taken from the conversion report's time range (or the files catalog), then ``collector``,
then ``source_path``: the day bounds eliminate the other months, and within the month the clustering
on ``(collector, entry_type, timestamp, prefix)`` prunes the blocks of other collectors and other
days. Without the filter a query would be billed for the columns it reads in every partition of the
table, so its cost would grow with the archive; with it, the cost is bounded by the file's own days
(docs/warehouse.md gives the figures). ``source_sha256`` is not filtered on: an archive path is
never overwritten, so the path names one file version, and the 64-byte column would add half the
bytes read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from cloudz.archive import paths
from cloudz.warehouse.schema import PARTITION_FIELD

if TYPE_CHECKING:
    from google.cloud import bigquery


MRT_YEARS = (1970, 2106)
"""The years an MRT header's time (u32 seconds since the epoch) falls in."""


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _day_of(micros: int) -> date:
    return datetime.fromtimestamp(micros / 1e6, UTC).date()


@dataclass(frozen=True)
class TimeWindow:
    """``lo <= timestamp < hi``: the partition filter of a query of the routes table."""

    lo: datetime
    hi: datetime

    def __post_init__(self) -> None:
        if self.lo.tzinfo is None or self.hi.tzinfo is None:
            raise ValueError("a time window's ends must be aware datetimes (UTC)")
        if self.hi <= self.lo:
            raise ValueError(f"empty time window {self.lo} .. {self.hi}")

    @classmethod
    def days(cls, first: date, last: date) -> TimeWindow:
        """The days ``first`` to ``last``, both included."""
        return cls(_midnight(first), _midnight(last + timedelta(days=1)))

    @classmethod
    def of_micros(cls, time_range: tuple[int, int]) -> TimeWindow:
        """The days that first and last row timestamps (microseconds since the epoch) fall in."""
        lo, hi = time_range
        return cls.days(_day_of(lo), _day_of(hi))

    @classmethod
    def month(cls, year: int, month: int) -> TimeWindow:
        """One calendar month: one partition of the routes table."""
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(_midnight(first), _midnight(following))

    @classmethod
    def mrt_times(cls) -> TimeWindow:
        """Every time an MRT header can hold (seconds as a u32: 1970-01-01 to 2106-02-07):
        the window of a stored file whose folder names no month such a time falls in."""
        return cls(_midnight(date(1970, 1, 1)), _midnight(date(2106, 2, 8)))

    @classmethod
    def of_path_month(cls, archive_path: str) -> TimeWindow:
        """The month of an archive path's ``YYYY.MM``: where a file's rows belong in the
        RouteViews layout (a file's records can be minutes outside it, and test files
        anything: prefer the time range the conversion found). A path already stored under a
        folder the archive rules refuse now (``0000.01``) is read too: its month when a row
        can be dated in it, else :meth:`mrt_times`."""
        month = paths.stored_month(archive_path)
        if month is None:
            paths.parse(archive_path)  # raises: the layout's own error
            raise AssertionError(archive_path)  # pragma: no cover
        if not MRT_YEARS[0] <= month[0] <= MRT_YEARS[1]:
            return cls.mrt_times()
        return cls.month(*month)

    def where(self, column: str = PARTITION_FIELD) -> str:
        """The condition (named parameters ``ts_lo``, ``ts_hi``)."""
        return f"{column} >= @ts_lo AND {column} < @ts_hi"

    def query_parameters(self) -> list[bigquery.ScalarQueryParameter]:
        from google.cloud import bigquery

        return [
            bigquery.ScalarQueryParameter("ts_lo", "TIMESTAMP", self.lo),
            bigquery.ScalarQueryParameter("ts_hi", "TIMESTAMP", self.hi),
        ]

    def __str__(self) -> str:
        return f"[{self.lo.isoformat()}, {self.hi.isoformat()})"


def file_window(client: bigquery.Client, files_ref: str, archive_path: str) -> TimeWindow:
    """The days a file's rows fall in, from the files catalog (``cloudz.warehouse.file_catalog``):
    the first and last record times of its conversions. A file the catalog has no time for (never
    converted, or not catalogued yet) gets the month of its path.

    The catalog is partitioned on the path's month, so this reads one partition of it. A path
    stored before the archive rules refused its folder is read too (:func:`cloudz.archive.paths.
    stored_month`); when its month is no DATE (year 0000: rows of such paths were stored before
    the ``archive-years`` rule), every partition of the catalog is read for it.
    """
    from google.cloud import bigquery

    month = paths.stored_month(archive_path)
    if month is None:
        paths.parse(archive_path)  # raises: the layout's own error
        raise AssertionError(archive_path)  # pragma: no cover
    params = [bigquery.ScalarQueryParameter("path", "STRING", archive_path)]
    where = "archive_path = @path"
    if 1 <= month[0] <= 9999:
        where = f"month = @month AND {where}"
        params.append(bigquery.ScalarQueryParameter("month", "DATE", date(*month, 1)))
    job = client.query(
        f"SELECT MIN(first_record) AS lo, MAX(last_record) AS hi FROM `{files_ref}` WHERE {where}",
        job_config=bigquery.QueryJobConfig(query_parameters=params),
    )
    row = next(iter(job.result()), None)
    if row is None or row["lo"] is None or row["hi"] is None:
        return TimeWindow.of_path_month(archive_path)
    return TimeWindow.days(row["lo"].astimezone(UTC).date(), row["hi"].astimezone(UTC).date())


def count_rows(
    client: bigquery.Client, table_ref: str, archive_path: str, window: TimeWindow
) -> int:
    """How many rows of the file at ``archive_path`` the routes table holds in ``window``."""
    from google.cloud import bigquery

    job = client.query(
        f"SELECT COUNT(*) AS n FROM `{table_ref}` WHERE {window.where()} AND source_path = @path",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[
                *window.query_parameters(),
                bigquery.ScalarQueryParameter("path", "STRING", archive_path),
            ]
        ),
    )
    return int(next(iter(job.result()))["n"])


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
        lo, hi = (_day_of(t) for t in time_range)
        return cls(collector, source_path, lo, hi)

    @property
    def days(self) -> int:
        """How many days the file's rows fall in."""
        return (self.last_day - self.first_day).days + 1

    @property
    def window(self) -> TimeWindow:
        return TimeWindow.days(self.first_day, self.last_day)

    def where(self) -> str:
        """The WHERE clause (named parameters ``ts_lo``, ``ts_hi``, ``collector``, ``path``)."""
        return f"{self.window.where()} AND collector = @collector AND source_path = @path"

    def query_parameters(self) -> list[bigquery.ScalarQueryParameter]:
        from google.cloud import bigquery

        return [
            *self.window.query_parameters(),
            bigquery.ScalarQueryParameter("collector", "STRING", self.collector),
            bigquery.ScalarQueryParameter("path", "STRING", self.source_path),
        ]

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
