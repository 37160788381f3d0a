"""The partition filter every query of the routes table carries (``cloudz.warehouse.file_rows``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cloudz.warehouse.file_rows import FileRows, TimeWindow


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_a_window_of_days_includes_the_last_day() -> None:
    w = TimeWindow.days(date(2024, 1, 31), date(2024, 2, 1))
    assert (w.lo, w.hi) == (_utc(2024, 1, 31), _utc(2024, 2, 2))
    assert w.where() == "timestamp >= @ts_lo AND timestamp < @ts_hi"
    params = {p.name: (p.type_, p.value) for p in w.query_parameters()}
    assert params == {"ts_lo": ("TIMESTAMP", w.lo), "ts_hi": ("TIMESTAMP", w.hi)}


def test_a_window_of_a_time_range_covers_its_days() -> None:
    # 2016-08-11 23:59:59.5 to 2016-08-12 00:00:00.25: two days
    lo = int(_utc(2016, 8, 11, 23, 59, 59).timestamp() * 1e6) + 500_000
    hi = int(_utc(2016, 8, 12).timestamp() * 1e6) + 250_000
    assert TimeWindow.of_micros((lo, hi)) == TimeWindow.days(date(2016, 8, 11), date(2016, 8, 12))


def test_a_month_window_is_one_partition() -> None:
    assert TimeWindow.month(2024, 12) == TimeWindow(_utc(2024, 12, 1), _utc(2025, 1, 1))
    assert TimeWindow.month(2024, 2) == TimeWindow(_utc(2024, 2, 1), _utc(2024, 3, 1))
    w = TimeWindow.of_path_month("route-views2/bgpdata/2001.10/RIBS/rib.20011026.1648.bz2")
    assert w == TimeWindow.month(2001, 10)


def test_a_window_refuses_naive_or_empty_ends() -> None:
    with pytest.raises(ValueError, match="aware"):
        TimeWindow(datetime(2024, 1, 1), _utc(2024, 1, 2))
    with pytest.raises(ValueError, match="empty"):
        TimeWindow(_utc(2024, 1, 2), _utc(2024, 1, 2))


def test_a_file_selects_its_days_collector_and_path() -> None:
    first = int(_utc(2016, 8, 11, 16).timestamp() * 1e6)
    last = int(_utc(2016, 8, 11, 16, 14, 59).timestamp() * 1e6)
    rows = FileRows.of("rrc00", "rrc00/bgpdata/2016.08/UPDATES/u", (first, last))
    assert rows.days == 1
    assert rows.window == TimeWindow.days(date(2016, 8, 11), date(2016, 8, 11))
    assert rows.where() == (
        "timestamp >= @ts_lo AND timestamp < @ts_hi AND collector = @collector "
        "AND source_path = @path"
    )
    params = {p.name: p.value for p in rows.query_parameters()}
    assert params == {
        "ts_lo": _utc(2016, 8, 11),
        "ts_hi": _utc(2016, 8, 12),
        "collector": "rrc00",
        "path": "rrc00/bgpdata/2016.08/UPDATES/u",
    }
