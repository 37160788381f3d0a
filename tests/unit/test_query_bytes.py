"""The layout's arithmetic of cloudz.warehouse.query_bytes: what a query names, over how long."""

from __future__ import annotations

from cloudz.warehouse.query_bytes import (
    DEFAULT_MAX_BYTES,
    ROWS_A_DAY,
    WIDTHS,
    Estimate,
    capped,
    layout_bytes,
)

DAY = "timestamp >= TIMESTAMP '2024-03-10' AND timestamp < TIMESTAMP '2024-03-11'"


def test_named_columns_times_rows_of_the_days() -> None:
    sql = f"SELECT prefix, origin_asns FROM `r` WHERE {DAY}"
    assert layout_bytes(sql) == int((17 + 8 + 8) * ROWS_A_DAY)  # prefix, origin_asns, timestamp
    week = sql.replace("2024-03-11", "2024-03-17")
    assert layout_bytes(week) == 7 * layout_bytes(sql)


def test_one_dump_round_and_star() -> None:
    dump = "SELECT prefix FROM `r` WHERE timestamp = TIMESTAMP '2024-03-10 12:00:00'"
    assert abs(layout_bytes(dump) - (17 + 8) * ROWS_A_DAY / 12) <= 1
    assert layout_bytes(f"SELECT * FROM `r` WHERE {DAY}") == int(sum(WIDTHS.values()) * ROWS_A_DAY)


def test_the_cap_and_the_price() -> None:
    assert capped().maximum_bytes_billed == DEFAULT_MAX_BYTES == 16 * 2**30
    assert capped(10).maximum_bytes_billed == 10
    assert Estimate(2**40, "dry run").dollars == 6.25
    assert "dry run" in str(Estimate(1, "dry run")) and "arithmetic" in str(Estimate(1, "layout"))
