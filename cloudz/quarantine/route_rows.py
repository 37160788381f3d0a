"""Delete one file version's rows from the routes table, one DML per monthly partition.

BigQuery's limits on mutating DML (FIELD-NOTES §13; the local emulator enforces none of them):
at most 2 DML statements run and 20 queue per table, more fail with "Too many DML statements
outstanding"; concurrent DML on one partition conflict ("Could not serialize access ...") and
are retried by BigQuery a few times, then fail; the routes table refuses a query with no
filter on ``timestamp`` (``require_partition_filter``); and a DML bills the whole size of
every partition it modifies. So the rows are deleted by one statement per month the file's
rows can fall in (at most two: the converter keeps a file's rows within a day of its name's
time, :mod:`cloudz.archive.time_window`), run one after the other (this command never holds
more than one of the table's two running slots, leaving the other to the per-file repair
path), each bounded to that month's part of the window so BigQuery touches that partition
only, and retried with backoff when BigQuery answers with the DML queue or a conflict.

The statement filters on ``source_sha256`` as well as ``source_path``: after a quarantine a
path names two versions, and only the quarantined one's rows go. Running it again deletes
nothing (0 rows): safe after a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from cloudz.archive import paths, time_window
from cloudz.warehouse.file_rows import TimeWindow

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)

#: BigQuery's words for a DML that may succeed when tried again later
RETRYABLE = (
    "Too many DML statements outstanding",
    "Could not serialize access",
    "concurrent update",
)
ATTEMPTS = 6
FIRST_DELAY = 5.0


@dataclass(frozen=True)
class PartitionDelete:
    """One DML: the rows of a version within one month's part of their window."""

    window: TimeWindow
    deleted: int


def _month_start(t: datetime) -> datetime:
    return datetime(t.year, t.month, 1, tzinfo=UTC)


def _next_month(t: datetime) -> datetime:
    return datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=UTC)


def version_window(
    path: paths.ArchivePath, records: Iterable[tuple[str | None, str | None]]
) -> TimeWindow:
    """Where the version's rows can be: the window the converter keeps rows in around the
    name's time, widened to the days of the first and last records the catalog saw (a file
    converted before the window rule existed)."""
    kept = time_window.of_source_path(path.path)
    assert kept is not None  # a parsed archive path names a time
    lo = datetime.fromtimestamp(kept[0] / 1e6, UTC)
    hi = datetime.fromtimestamp(kept[1] / 1e6, UTC)
    for first, last in records:
        first_day, last_day = _day(first), _day(last)
        if first_day is not None:
            lo = min(lo, datetime.combine(first_day, datetime.min.time(), UTC))
        if last_day is not None:
            after = last_day + timedelta(days=1)
            hi = max(hi, datetime.combine(after, datetime.min.time(), UTC))
    return TimeWindow(lo, hi)


def _day(text: str | None) -> date | None:
    """The UTC day of a catalog time as text (``CAST(t AS STRING)``: ``2024-03-12
    00:00:05+00``; None when absent or unreadable: the name's window still holds the rows)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace(" UTC", "+00:00")).astimezone(UTC).date()
    except ValueError:
        log.warning("catalog time %r not read", text)
        return None


def per_partition(window: TimeWindow) -> Iterator[TimeWindow]:
    """``window`` cut at month boundaries: one piece per partition of the routes table."""
    lo = window.lo
    while lo < window.hi:
        hi = min(_next_month(_month_start(lo)), window.hi)
        yield TimeWindow(lo, hi)
        lo = hi


def _retrying(run: Callable[[], int], what: str, sleep: Callable[[float], None]) -> int:
    delay = FIRST_DELAY
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return run()
        except gexc.GoogleAPICallError as exc:
            if attempt == ATTEMPTS or not any(w in str(exc) for w in RETRYABLE):
                raise
            log.warning("%s: %s; trying again in %.0f s", what, exc, delay)
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def delete_version(
    client: bigquery.Client,
    table_ref: str,
    path: paths.ArchivePath,
    sha256: str,
    window: TimeWindow,
    sleep: Callable[[float], None] = time.sleep,
) -> list[PartitionDelete]:
    """Delete the rows of ``path`` at ``sha256`` in ``window``, one partition at a time."""
    from google.cloud import bigquery

    done = []
    for piece in per_partition(window):

        def run(piece: TimeWindow = piece) -> int:
            job = client.query(
                f"DELETE FROM `{table_ref}` WHERE {piece.where()} AND collector = @collector "
                "AND source_path = @path AND source_sha256 = @sha256",
                job_config=bigquery.QueryJobConfig(
                    query_parameters=[
                        *piece.query_parameters(),
                        bigquery.ScalarQueryParameter("collector", "STRING", path.collector),
                        bigquery.ScalarQueryParameter("path", "STRING", path.path),
                        bigquery.ScalarQueryParameter("sha256", "STRING", sha256),
                    ]
                ),
            )
            job.result()
            return int(job.num_dml_affected_rows or 0)

        deleted = _retrying(run, f"DELETE of {path.path} in {piece}", sleep)
        log.info("%s %s: %d rows deleted in %s", path.path, sha256[:16], deleted, piece)
        done.append(PartitionDelete(piece, deleted))
    return done
