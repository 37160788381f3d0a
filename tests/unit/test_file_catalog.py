"""Catalog rows from a file's outcome (the e2e test, tests/e2e/test_catalog.py, writes and
queries them on the stack)."""

from __future__ import annotations

from cloudz import file_catalog as fc


def test_a_loaded_row_carries_the_report_and_the_name_time() -> None:
    row = fc.row_of(
        "route-views2/bgpdata/2024.01/RIBS/rib.20240115.0200.bz2",
        "a" * 64,
        state=fc.STATE_LOADED,
        size=10,
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
    assert row.rows == 5 and row.damage_offset is None


def test_names_before_2003_02_03_were_pacific_time() -> None:
    row = fc.row_of(
        "route-views2/bgpdata/2002.07/UPDATES/updates.20020722.2238.gz", "b" * 64, state="loaded"
    )
    assert row.dump_time == "2002-07-23T05:38:00+00:00"  # PDT is UTC-7


def test_a_partial_row_says_where_the_damage_is() -> None:
    row = fc.row_of(
        "rrc00/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz",
        "c" * 64,
        state=fc.STATE_PARTIAL,
        report={"rows": 2, "damage": {"offset": 77, "reason": "truncated record"}},
    )
    assert (row.damage_offset, row.reason) == (77, "truncated record")
