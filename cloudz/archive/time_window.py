"""The times a file's rows may carry: a window around the time in the file's name.

The routes table is MONTH-partitioned on ``timestamp`` (``cloudz.warehouse.schema``), and
BigQuery counts every partition a load job writes against the table's 30,000 partition
modifications a day
(../shared/FIELD-NOTES.md §8, §13). A row's time is its record's header time, which any writer
(a collector with a wrong clock, a hostile upload) sets freely: one small file of records dated
across 1970-2106 spread its rows over more than a thousand monthly partitions, the quota of
dozens of files' loads, and the catalog's per-file queries then read every one of them.

So a file's rows are kept only when dated within ``MARGIN`` of the time in its name (the
archive rules tie the name to the month folder, :mod:`cloudz.archive.paths`): from a day before
to a day after. A RouteViews update file covers 15 minutes from its name's time and a RIB is
dumped within minutes of it; names before 2003-02-03 are Pacific time, 7-8 hours before UTC:
all well inside. The window is two days long, so a file's rows touch at most two monthly
partitions (one, unless the name is within a day of a month's edge). Rows outside it are not
written and are counted in the report (``time_dropped``), which makes the file *partial* with
the reason :func:`describe` gives: dropped, never silently.

A ``source_path`` that is no archive path (a researcher's ``cloudz-convert`` of a local file)
has no name time: every row is kept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

MARGIN: Final = timedelta(days=1)
"""How far before and after the name's time a row's time may be."""

_US: Final = 1_000_000


def _micros(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def of_source_path(source_path: str) -> tuple[int, int] | None:
    """``(lo, hi)`` in microseconds since the epoch, rows kept when ``lo <= t < hi``: the name's
    time of ``source_path`` (an archive path) ± :data:`MARGIN`; None when it names no time."""
    from cloudz.archive import paths

    try:
        named = paths.parse(source_path).named_time
    except ValueError:
        return None
    named = named.replace(tzinfo=UTC)  # Pacific names (before 2003) are 7-8 h early: inside
    return _micros(named - MARGIN), _micros(named + MARGIN)


def _text(micros: int) -> str:
    return datetime.fromtimestamp(micros / _US, UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe(window: tuple[int, int] | None, dropped: int) -> str | None:
    """Why rows are missing, for the report's readers (catalog, CLI); None when none are."""
    if not dropped or window is None:
        return None
    lo, hi = window
    return (
        f"{dropped} rows dated outside {_text(lo)} .. {_text(hi)} (a day either side of the "
        "time in the file's name) were not loaded: a file's rows stay within two monthly "
        "partitions"
    )
