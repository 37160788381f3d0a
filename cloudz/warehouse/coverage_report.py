"""The coverage page's queries: per collector, day and kind, what was promised and what came.

Two queries, both bounded to the partitions of the days asked for (the tables are
MONTH-partitioned, so a week reads one or two months of each):

- ``grid``: the newest reconcile check of each (day, collector, kind) from the coverage table
  (files expected, archived, the newest file, known, silent) joined with the files catalog's
  counts of loaded, partial and failed files that day;
- ``failed_files``: the files whose newest catalog row says failed, with the stage, the reason
  and the run to re-run.

Both pick the newest catalog row of each file version (archive path, sha256) themselves instead
of reading the ``files_latest`` view, whose window function would read every partition. As in
``cloudz.batch.plan.catalog_states``, a row saying the rows are in the table (loaded or partial)
wins over a later failure of the same version: a failed re-load of a loaded file did not take its
rows out. The page (``plugins/cloudz_coverage.py``) renders these; docs/operations-ui.md says
what each query reads as the tables grow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudz.archive import paths

if TYPE_CHECKING:
    from google.cloud import bigquery

#: the longest range the page asks for (a quarter: at most four month partitions per table)
MAX_DAYS = 92
#: failed files listed at most (newest first)
MAX_FAILED = 500

#: the newest catalog row of each file version named on the days asked for; ``{{outer}}``
#: names what the query keeps of ``{{inner}}`` (the window reads archive_path, sha256, state
#: and recorded_at besides)
_NEWEST_FILES = """
  SELECT {outer} FROM (
    SELECT {inner}, ROW_NUMBER() OVER (
      PARTITION BY archive_path, sha256
      ORDER BY IF(state IN ('loaded', 'partial'), 1, 0) DESC, recorded_at DESC) AS newest
    FROM `{files}`
    WHERE month BETWEEN @first_month AND @last_month
      AND dump_time >= @since AND dump_time < @until{and_collector}
  )
  WHERE newest = 1"""

GRID_SQL = """
WITH files AS ({newest_files}
),
states AS (
  SELECT day, collector, kind,
    COUNTIF(state = 'loaded') AS loaded,
    COUNTIF(state = 'partial') AS partial,
    COUNTIF(state = 'failed') AS failed
  FROM files
  GROUP BY day, collector, kind
),
checks AS (
  SELECT day, collector, kind, expected, archived, latest_dump, known, silent, checked_at
  FROM (
    SELECT day, collector, kind, expected, archived, latest_dump, known, silent, checked_at,
      ROW_NUMBER() OVER (PARTITION BY day, collector, kind ORDER BY checked_at DESC) AS newest
    FROM `{coverage}`
    WHERE day BETWEEN @first AND @last{and_collector}
  )
  WHERE newest = 1
)
SELECT
  COALESCE(c.day, s.day) AS day,
  COALESCE(c.collector, s.collector) AS collector,
  COALESCE(c.kind, s.kind) AS kind,
  c.expected, c.archived, c.latest_dump, c.known, c.silent, c.checked_at,
  IFNULL(s.loaded, 0) AS loaded,
  IFNULL(s.partial, 0) AS partial,
  IFNULL(s.failed, 0) AS failed
FROM checks AS c
FULL OUTER JOIN states AS s
  ON c.day = s.day AND c.collector = s.collector AND c.kind = s.kind
ORDER BY collector, day DESC, kind
"""

FAILED_SQL = """
SELECT archive_path, sha256, collector, kind, dump_time, stage, reason, run_id, recorded_at
FROM ({newest_files}
)
WHERE state = 'failed'
ORDER BY dump_time DESC, archive_path
LIMIT @limit
"""

_GRID_FILES = {
    "outer": "day, collector, kind, state",
    "inner": "DATE(dump_time) AS day, collector, kind, state",
}
_FAILED_COLUMNS = (
    "archive_path, sha256, collector, kind, dump_time, state, stage, reason, run_id, recorded_at"
)
_FAILED_FILES = {"outer": _FAILED_COLUMNS, "inner": _FAILED_COLUMNS}


@dataclass(frozen=True)
class DayRange:
    """UTC days ``first`` to ``last``, both included: the days of the files' names."""

    first: dt.date
    last: dt.date

    @classmethod
    def ending(cls, last: dt.date, days: int) -> DayRange:
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be 1 to {MAX_DAYS}, not {days}")
        return cls(last - dt.timedelta(days=days - 1), last)

    def catalog_months(self) -> tuple[dt.date, dt.date]:
        """The catalog partitions (the ``YYYY.MM`` of the paths) that can hold these days.

        Files named in Pacific time (RouteViews before 2003-02-03) fall up to a day later in
        UTC, so a file of the first day may sit in the month before.
        """
        first = self.first
        if first <= paths.PACIFIC_NAMES_BEFORE:
            first -= dt.timedelta(days=1)
        return first.replace(day=1), self.last.replace(day=1)

    def parameters(self) -> list[Any]:
        from google.cloud import bigquery

        first_month, last_month = self.catalog_months()
        since = dt.datetime.combine(self.first, dt.time(), dt.UTC)
        until = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), dt.UTC)
        return [
            bigquery.ScalarQueryParameter("first", "DATE", self.first),
            bigquery.ScalarQueryParameter("last", "DATE", self.last),
            bigquery.ScalarQueryParameter("first_month", "DATE", first_month),
            bigquery.ScalarQueryParameter("last_month", "DATE", last_month),
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
            bigquery.ScalarQueryParameter("until", "TIMESTAMP", until),
        ]


@dataclass(frozen=True)
class CoverageCell:
    """One collector's files of one kind on one day.

    ``expected`` … ``checked_at`` are None when no reconcile check looked at that day yet
    (the catalog knows files of it all the same).
    """

    day: dt.date
    collector: str
    kind: str
    expected: int | None
    archived: int | None
    latest_dump: dt.datetime | None
    known: bool | None
    silent: bool | None
    checked_at: dt.datetime | None
    loaded: int
    partial: int
    failed: int

    @property
    def missing(self) -> int | None:
        """Files the cadence promised that are not in the bucket."""
        if self.expected is None or self.archived is None:
            return None
        return max(0, self.expected - self.archived)

    @property
    def unaccounted(self) -> int | None:
        """Archived files with no outcome in the catalog yet (running, or lost)."""
        if self.archived is None:
            return None
        return max(0, self.archived - self.loaded - self.partial - self.failed)


@dataclass(frozen=True)
class FailedFile:
    """A file version whose newest catalog row says failed."""

    archive_path: str
    sha256: str
    collector: str
    kind: str
    dump_time: dt.datetime | None
    stage: str | None
    reason: str | None
    run_id: str | None
    recorded_at: dt.datetime

    @property
    def own_run_id(self) -> str | None:
        """The run id the file's own ``mrt_file`` run has (or would have)."""
        try:
            return paths.run_id(paths.parse(self.archive_path), self.sha256)
        except ValueError:
            return None

    @property
    def per_file_run(self) -> bool:
        """The failure is of the file's own ``mrt_file`` run (not a mirror or backfill
        batch), so clearing that run's ``convert`` re-runs this file and nothing else."""
        try:
            return self.run_id == paths.run_id(paths.parse(self.archive_path), self.sha256)
        except ValueError:
            return False


def _sql(
    template: str,
    columns: dict[str, str],
    files_ref: str,
    coverage_ref: str,
    collector: str | None,
) -> str:
    """Table names cannot be query parameters: they come from settings, never from a user."""
    and_collector = "\n      AND collector = @collector" if collector else ""
    newest = _NEWEST_FILES.format(files=files_ref, and_collector=and_collector, **columns)
    return template.format(newest_files=newest, coverage=coverage_ref, and_collector=and_collector)


def _config(days: DayRange, collector: str | None, *extra: Any) -> bigquery.QueryJobConfig:
    from google.cloud import bigquery

    params = days.parameters()
    if collector:
        params.append(bigquery.ScalarQueryParameter("collector", "STRING", collector))
    return bigquery.QueryJobConfig(query_parameters=[*params, *extra])


def grid(
    client: bigquery.Client,
    files_ref: str,
    coverage_ref: str,
    days: DayRange,
    collector: str | None = None,
) -> list[CoverageCell]:
    """Every (day, collector, kind) of ``days`` that a check or the catalog knows of,
    ordered by collector, newest day first, kind."""
    sql = _sql(GRID_SQL, _GRID_FILES, files_ref, coverage_ref, collector)
    rows = client.query(sql, job_config=_config(days, collector)).result()
    return [
        CoverageCell(
            day=r["day"],
            collector=r["collector"],
            kind=r["kind"],
            expected=r["expected"],
            archived=r["archived"],
            latest_dump=r["latest_dump"],
            known=r["known"],
            silent=r["silent"],
            checked_at=r["checked_at"],
            loaded=int(r["loaded"]),
            partial=int(r["partial"]),
            failed=int(r["failed"]),
        )
        for r in rows
    ]


def failed_files(
    client: bigquery.Client,
    files_ref: str,
    days: DayRange,
    collector: str | None = None,
    limit: int = MAX_FAILED,
) -> list[FailedFile]:
    """The failed file versions named on ``days``, newest file first, at most ``limit``."""
    from google.cloud import bigquery

    sql = _sql(FAILED_SQL, _FAILED_FILES, files_ref, "", collector)
    config = _config(days, collector, bigquery.ScalarQueryParameter("limit", "INT64", limit))
    return [
        FailedFile(
            archive_path=r["archive_path"],
            sha256=r["sha256"],
            collector=r["collector"],
            kind=r["kind"],
            dump_time=r["dump_time"],
            stage=r["stage"],
            reason=r["reason"],
            run_id=r["run_id"],
            recorded_at=r["recorded_at"],
        )
        for r in client.query(sql, job_config=config).result()
    ]
