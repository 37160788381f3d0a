"""The coverage page's queries: per collector, day and kind, what was promised and what came.

Four queries, each bounded to the month partitions of the days asked for (the tables are
MONTH-partitioned; the catalog on the path's ``YYYY.MM`` folder), so their bytes grow with
the days shown, not with the tables' age:

- ``grid``: the newest reconcile check of each (day, collector, kind) from the coverage table
  (files expected, archived, the newest file, known, silent, when it looked) joined with the
  files catalog's counts that day (loaded, partial, failed, not loaded by the load policy) and
  the newest catalog row counted (the catalog's own moment);
- ``failed_files``: the file versions whose newest catalog row says failed, worst first, each
  with its tries (failed rows) and when it failed first and last;
- ``odd_files``: files whose names carry no date, or a date outside their folder's month or
  in the future, which no day of the grid can hold: counted and listed;
- ``day_files``: one collector-day's files (a cell of the page's picture opened).

Which files a window holds: those *named* on its days, and those whose names give no day the
window could show (no date, a date outside the folder's month, a date in the future) when
their folder is a month of the window's days or a folder after this month. So every file the
catalog holds as failed appears in some window, whatever its name, and the reconcile's
``failed`` report reads the same query (:func:`failed_files`).

Each picks the newest catalog row of each file version (archive path, sha256) itself instead
of reading the ``files_latest`` view, whose window function would read every partition. As in
``cloudz.batch.plan.catalog_states``, a row saying the rows are in the table (loaded or partial)
wins over a later failure of the same version: a failed re-load did not take its rows out; a
*quarantined* row wins over both (its rows were deleted).
docs/operations-ui.md says what each query reads as the tables grow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudz.archive import paths
from cloudz.warehouse import file_catalog

if TYPE_CHECKING:
    from google.cloud import bigquery

#: the longest range the page asks for (a quarter: at most five month partitions per table)
MAX_DAYS = 92
#: failed files listed at most (worst first); the count is always whole
MAX_FAILED = 500
#: odd-named files listed at most
MAX_ODD = 200
#: a file archived and verified but left out of the routes table on purpose by the load
#: policy: neither missing nor failed
STATE_NOT_LOADED_BY_POLICY = file_catalog.STATE_NOT_LOADED_BY_POLICY

#: a version an operator moved out of the archive (``cloudz-quarantine``): its rows are gone,
#: so it wins over an earlier loaded row
STATE_QUARANTINED = file_catalog.STATE_QUARANTINED
#: a name that gives no day of its folder's month: none, more than a day outside the month
#: (``paths.MONTH_EDGE``), or after now
ODD_NAME = (
    "(dump_time IS NULL"
    " OR dump_time < TIMESTAMP(DATE_SUB(month, INTERVAL 1 DAY))"
    " OR dump_time >= TIMESTAMP(DATE_ADD(DATE_ADD(month, INTERVAL 1 MONTH), INTERVAL 1 DAY))"
    " OR dump_time > @now)"
)
#: files named on the window's days (their folders may be a day off the days' months)
_NAMED_IN_WINDOW = (
    "month BETWEEN @first_month AND @last_month AND dump_time >= @since AND dump_time < @until"
)
#: files no day can show: in a folder of the window's own months, or of a month to come
_ODD_OF_WINDOW = (
    f"(month BETWEEN @own_first_month AND @own_last_month OR month > @this_month) AND {ODD_NAME}"
)

#: the newest catalog row of each file version among ``{where}``; ``{columns}`` are kept
#: besides, and ``{tries}`` adds the version's tries (its failed rows) and first failure
#: (the grid does without: two more windows over every row)
_NEWEST = """
  SELECT * FROM (
    SELECT {columns},
      ROW_NUMBER() OVER (
        PARTITION BY archive_path, sha256
        ORDER BY CASE state WHEN '{quarantined}' THEN 2 WHEN 'loaded' THEN 1
          WHEN 'partial' THEN 1 ELSE 0 END DESC, recorded_at DESC) AS newest{tries}
    FROM `{files}`
    WHERE ({where}){and_collector}
  )
  WHERE newest = 1"""

GRID_SQL = """
WITH files AS ({newest}
),
states AS (
  SELECT DATE(dump_time) AS day, collector, kind,
    COUNTIF(state = 'loaded') AS loaded,
    COUNTIF(state = 'partial') AS partial,
    COUNTIF(state = 'failed') AS failed,
    COUNTIF(state = '{by_policy}') AS by_policy,
    MAX(recorded_at) AS recorded_last
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
  IFNULL(s.failed, 0) AS failed,
  IFNULL(s.by_policy, 0) AS by_policy,
  s.recorded_last
FROM checks AS c
FULL OUTER JOIN states AS s
  ON c.day = s.day AND c.collector = s.collector AND c.kind = s.kind
ORDER BY collector, day DESC, kind
"""

_TRIES = """,
      COUNTIF(state = 'failed') OVER (PARTITION BY archive_path, sha256) AS tries,
      MIN(IF(state = 'failed', recorded_at, NULL))
        OVER (PARTITION BY archive_path, sha256) AS first_failed"""

_FILE_COLUMNS = (
    "archive_path, sha256, collector, kind, dump_time, CAST(month AS STRING) AS folder, "
    "state, stage, reason, run_id, recorded_at"
)

FAILED_SQL = """
SELECT archive_path, sha256, collector, kind, dump_time, folder, stage, reason, run_id,
  recorded_at, tries, first_failed,
  COUNT(*) OVER (PARTITION BY collector) AS collector_failed,
  COUNT(*) OVER () AS total
FROM ({newest}
)
WHERE state = 'failed'
ORDER BY collector_failed DESC, collector, tries DESC, dump_time DESC, archive_path
LIMIT @limit
"""

FILES_SQL = """
SELECT archive_path, sha256, collector, kind, dump_time, folder, state, stage, reason, run_id,
  recorded_at, tries, first_failed, COUNT(*) OVER () AS total
FROM ({newest}
)
ORDER BY {order}
LIMIT @limit
"""


def _months(first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    return first.replace(day=1), last.replace(day=1)


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

    @property
    def days(self) -> list[dt.date]:
        """Every day of the range, newest first (the page's columns)."""
        count = (self.last - self.first).days + 1
        return [self.last - dt.timedelta(days=i) for i in range(count)]

    def catalog_months(self) -> tuple[dt.date, dt.date]:
        """The catalog partitions (the ``YYYY.MM`` of the paths) that can hold files named
        on these days: a file rotated just after midnight of the 1st sits in the month
        before (``paths.MONTH_EDGE``), and one named in Pacific time (RouteViews before
        2003-02-03) falls up to a day later in UTC."""
        edge = paths.MONTH_EDGE
        first = self.first - edge
        if first <= paths.PACIFIC_NAMES_BEFORE:
            first -= dt.timedelta(days=1)
        return _months(first, self.last + edge)

    def parameters(self, now: dt.datetime | None = None) -> list[Any]:
        from google.cloud import bigquery

        now = now or dt.datetime.now(dt.UTC)
        first_month, last_month = self.catalog_months()
        own_first, own_last = _months(self.first, self.last)
        since = dt.datetime.combine(self.first, dt.time(), dt.UTC)
        until = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), dt.UTC)
        date, stamp = "DATE", "TIMESTAMP"
        return [
            bigquery.ScalarQueryParameter("first", date, self.first),
            bigquery.ScalarQueryParameter("last", date, self.last),
            bigquery.ScalarQueryParameter("first_month", date, first_month),
            bigquery.ScalarQueryParameter("last_month", date, last_month),
            bigquery.ScalarQueryParameter("own_first_month", date, own_first),
            bigquery.ScalarQueryParameter("own_last_month", date, own_last),
            bigquery.ScalarQueryParameter("this_month", date, now.date().replace(day=1)),
            bigquery.ScalarQueryParameter("now", stamp, now + paths.FUTURE_SKEW),
            bigquery.ScalarQueryParameter("since", stamp, since),
            bigquery.ScalarQueryParameter("until", stamp, until),
        ]


@dataclass(frozen=True)
class CoverageCell:
    """One collector's files of one kind on one day.

    ``expected`` … ``checked_at`` are the reconcile check's, as of ``checked_at`` (None when
    no check looked at that day yet); ``loaded`` … ``by_policy`` the catalog's, as of its
    newest row counted, ``recorded_last``. The two moments differ: a file archived after the
    check has an outcome the check did not see (``since_check``).
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
    by_policy: int = 0
    recorded_last: dt.datetime | None = None

    @property
    def outcomes(self) -> int:
        """Files with an outcome in the catalog (each is archived, whatever the check saw)."""
        return self.loaded + self.partial + self.failed + self.by_policy

    @property
    def since_check(self) -> int:
        """Files with an outcome that the check did not count (archived after it looked)."""
        return 0 if self.archived is None else max(0, self.outcomes - self.archived)

    @property
    def missing(self) -> int | None:
        """Files the cadence promised that neither the check nor the catalog has seen."""
        if self.expected is None or self.archived is None:
            return None
        return max(0, self.expected - max(self.archived, self.outcomes))

    @property
    def unaccounted(self) -> int | None:
        """Archived files (as the check saw) with no outcome in the catalog yet."""
        if self.archived is None:
            return None
        return max(0, self.archived - self.outcomes)


@dataclass(frozen=True)
class CatalogFile:
    """A file version and its newest catalog row; ``tries``: its failed rows."""

    archive_path: str
    sha256: str
    collector: str
    kind: str
    dump_time: dt.datetime | None
    #: the path's ``YYYY.MM`` folder as the catalog holds it (text: a pre-rule year 0 reads)
    folder: str
    state: str
    stage: str | None
    reason: str | None
    run_id: str | None
    recorded_at: dt.datetime
    tries: int = 0
    first_failed: dt.datetime | None = None

    @property
    def own_run_id(self) -> str | None:
        """The run id the file's own ``mrt_file`` run has (or would have); None for a name
        the archive's rules refuse now (no run can start for it)."""
        try:
            return paths.run_id(paths.parse(self.archive_path), self.sha256)
        except ValueError:
            return None

    @property
    def per_file_run(self) -> bool:
        """The failure is of the file's own ``mrt_file`` run (not a mirror or backfill
        batch), so clearing that run's ``convert`` re-runs this file and nothing else."""
        own = self.own_run_id
        return own is not None and self.run_id == own

    @property
    def odd_name(self) -> str | None:
        """Why no day of the grid holds this file, or None when its name gives its day."""
        if self.dump_time is None:
            return "no date in the name"
        try:
            paths.parse(self.archive_path)
        except paths.ArchivePathError as exc:
            return f"refused by rule {exc.rule}"
        return None


@dataclass(frozen=True)
class Listed:
    """Some of the files a query found (at most its limit) and how many it found."""

    files: list[CatalogFile]
    total: int


def _sql(
    template: str,
    where: str,
    files_ref: str,
    collectors: Sequence[str],
    *,
    columns: str = _FILE_COLUMNS,
    tries: bool = True,
    coverage_ref: str = "",
    order: str = "",
) -> str:
    """Table names cannot be query parameters: they come from settings, never from a user."""
    and_collector = "\n      AND collector IN UNNEST(@collectors)" if collectors else ""
    newest = _NEWEST.format(
        columns=columns,
        files=files_ref,
        where=where,
        and_collector=and_collector,
        quarantined=STATE_QUARANTINED,
        tries=_TRIES if tries else "",
    )
    return template.format(
        newest=newest,
        coverage=coverage_ref,
        and_collector=and_collector,
        by_policy=STATE_NOT_LOADED_BY_POLICY,
        order=order,
    )


def _collectors(collector: str | Iterable[str] | None) -> list[str]:
    if collector is None:
        return []
    return [collector] if isinstance(collector, str) else sorted(set(collector))


def _config(
    days: DayRange, collectors: Sequence[str], now: dt.datetime | None, *extra: Any
) -> bigquery.QueryJobConfig:
    from google.cloud import bigquery

    params = days.parameters(now)
    if collectors:
        params.append(bigquery.ArrayQueryParameter("collectors", "STRING", list(collectors)))
    return bigquery.QueryJobConfig(query_parameters=[*params, *extra])


def grid(
    client: bigquery.Client,
    files_ref: str,
    coverage_ref: str,
    days: DayRange,
    collector: str | Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> list[CoverageCell]:
    """Every (day, collector, kind) of ``days`` that a check or the catalog knows of,
    ordered by collector, newest day first, kind."""
    names = _collectors(collector)
    sql = _sql(
        GRID_SQL,
        _NAMED_IN_WINDOW,
        files_ref,
        names,
        columns="dump_time, collector, kind, state, recorded_at",
        tries=False,
        coverage_ref=coverage_ref,
    )
    rows = client.query(sql, job_config=_config(days, names, now)).result()
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
            by_policy=int(r["by_policy"]),
            recorded_last=r["recorded_last"],
        )
        for r in rows
    ]


def _file(r: Any) -> CatalogFile:
    return CatalogFile(
        archive_path=r["archive_path"],
        sha256=r["sha256"],
        collector=r["collector"],
        kind=r["kind"],
        dump_time=r["dump_time"],
        folder=str(r["folder"])[:7].replace("-", "."),
        state=r.get("state") or "failed",
        stage=r["stage"],
        reason=r["reason"],
        run_id=r["run_id"],
        recorded_at=r["recorded_at"],
        tries=int(r["tries"] or 0),
        first_failed=r["first_failed"],
    )


def _listed(client: bigquery.Client, sql: str, config: bigquery.QueryJobConfig) -> Listed:
    rows = list(client.query(sql, job_config=config).result())
    return Listed([_file(r) for r in rows], int(rows[0]["total"]) if rows else 0)


def failed_files(
    client: bigquery.Client,
    files_ref: str,
    days: DayRange,
    collector: str | Iterable[str] | None = None,
    limit: int = MAX_FAILED,
    now: dt.datetime | None = None,
) -> Listed:
    """The failed file versions of ``days`` (named on them, or odd-named in their months or
    a month to come), worst first: the collector with the most failures first, then the
    most tries, then the newest name; at most ``limit``."""
    from google.cloud import bigquery

    names = _collectors(collector)
    where = f"({_NAMED_IN_WINDOW}) OR ({_ODD_OF_WINDOW})"
    sql = _sql(FAILED_SQL, where, files_ref, names)
    limit_param = bigquery.ScalarQueryParameter("limit", "INT64", limit)
    return _listed(client, sql, _config(days, names, now, limit_param))


def odd_files(
    client: bigquery.Client,
    files_ref: str,
    days: DayRange,
    collector: str | Iterable[str] | None = None,
    limit: int = MAX_ODD,
    now: dt.datetime | None = None,
) -> Listed:
    """Files whose names give no day of the grid (no date, a date outside the folder's month,
    a date to come), in the window's months or a month to come; failed first."""
    from google.cloud import bigquery

    names = _collectors(collector)
    order = "IF(state = 'failed', 0, 1), collector, archive_path"
    sql = _sql(FILES_SQL, _ODD_OF_WINDOW, files_ref, names, order=order)
    limit_param = bigquery.ScalarQueryParameter("limit", "INT64", limit)
    return _listed(client, sql, _config(days, names, now, limit_param))


def day_files(
    client: bigquery.Client,
    files_ref: str,
    collector: str,
    day: dt.date,
    limit: int = MAX_FAILED,
) -> Listed:
    """One collector's files named on ``day`` (a cell of the picture), by name."""
    from google.cloud import bigquery

    sql = _sql(FILES_SQL, _NAMED_IN_WINDOW, files_ref, [collector], order="archive_path")
    limit_param = bigquery.ScalarQueryParameter("limit", "INT64", limit)
    return _listed(client, sql, _config(DayRange(day, day), [collector], None, limit_param))
