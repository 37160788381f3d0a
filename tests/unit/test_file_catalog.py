"""Catalog rows from a file's outcome (the e2e test, tests/e2e/test_catalog.py, writes and
queries them on the stack)."""

from __future__ import annotations

from cloudz.archive.archived_file import ArchivedFile
from cloudz.warehouse import file_catalog as fc


def test_a_loaded_row_carries_the_report_and_the_name_time() -> None:
    row = fc.row_of(
        ArchivedFile.of("route-views2/bgpdata/2024.01/RIBS/rib.20240115.0200.bz2", "a" * 64, 10),
        state=fc.STATE_LOADED,
        report={
            "rows": 5,
            "records": 3,
            "parse_errors": 0,
            "time_range": [1705284000000000, 1705284001000000],
        },
        run_id="r",
    )
    assert (row.collector, row.kind, row.month) == ("route-views2", "RIBS", "2024-01-01")
    assert row.dump_time == "2024-01-15T02:00:00+00:00"
    assert row.first_record == "2024-01-15T02:00:00+00:00"
    assert row.rows == 5 and row.damage_offset is None and row.size == 10


def test_names_before_2003_02_03_were_pacific_time() -> None:
    row = fc.row_of(
        ArchivedFile.of("route-views2/bgpdata/2002.07/UPDATES/updates.20020722.2238.gz", "b" * 64),
        state="loaded",
    )
    assert row.dump_time == "2002-07-23T05:38:00+00:00"  # PDT is UTC-7


def test_a_partial_row_says_where_the_damage_is() -> None:
    row = fc.row_of(
        ArchivedFile.of("rrc00/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz", "c" * 64),
        state=fc.STATE_PARTIAL,
        report={"rows": 2, "damage": {"offset": 77, "reason": "truncated record"}},
    )
    assert (row.damage_offset, row.reason) == (77, "truncated record")


def test_a_partial_row_says_why_rows_dated_outside_the_window_are_missing() -> None:
    """Issue 20, item 6: rows dated far from the file's name are counted, not loaded; the
    catalog's reason says so (the converter's report, as the convert task returns it)."""
    from cloudz.archive.time_window import of_source_path
    from cloudz.convert.report import ConversionReport

    path = "rv/bgpdata/2026.01/UPDATES/updates.20260131.2345.bz2"
    report = ConversionReport(
        rows=1, records=3, parse_errors=0, time_dropped=2, time_window=of_source_path(path)
    )
    row = fc.row_of(
        ArchivedFile.of(path, "d" * 64),
        state=fc.STATE_PARTIAL,
        report={**report.to_dict(), "status": report.status},
    )
    assert report.status == "partial"
    assert row.reason is not None and row.reason.startswith(
        "2 rows dated outside 2026-01-30 23:45 UTC .. 2026-02-01 23:45 UTC"
    )


def test_a_year_the_catalog_cannot_hold_is_refused_before_a_row_is_written() -> None:
    """A 0000.01 folder's row (month 0000-01-01: no DATE BigQuery holds) was written and could
    not be read back; the archive rules refuse the path now, so no such row is made."""
    import pytest

    from cloudz.archive.paths import ArchivePathError

    with pytest.raises(ArchivePathError) as err:
        ArchivedFile.of("rv/bgpdata/0000.01/UPDATES/updates.00010101.0000.bz2", "e" * 64)
    assert err.value.rule == "archive-years"
