"""Rows dated far from their file's name (issue 20, item 6): reported and not loaded.

One small file of records dated a month apart spread its rows over more than a thousand
monthly partitions of the routes table (BigQuery: the table's daily partition-modification
quota). Through the real converter, both engines (the C fast path and the mrtparse
reference), which must write the same rows and the same report; and the ``cloudz-convert``
CLI, which says why the file is partial.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import pytest

from cloudz.convert import convert_file, fast_path
from cloudz.convert.report import ConversionReport
from cloudz.mrtgen.attributes import encode_attr
from cloudz.mrtgen.records import (
    BGP4MP,
    TABLE_DUMP_V2,
    bgp4mp_peer_header,
    bgp_update,
    mrt_record,
    mrt_record_et,
)
from cloudz.mrtgen.rib import _Peer, peer_index_table
from cloudz.settings import PROJECT_ROOT

ENGINES = ["python"] + (["fast"] if fast_path.available() else [])
NAMED = datetime(2026, 1, 31, 23, 45, tzinfo=UTC)  # a day before a month's edge
PATH = f"rv/bgpdata/2026.01/UPDATES/updates.{NAMED:%Y%m%d.%H%M}.bz2"
T0 = int(NAMED.timestamp())
DAY = 86_400
ATTRS = (
    encode_attr(0x40, 1, b"\x00")
    + encode_attr(0x40, 2, b"\x02\x01" + struct.pack(">I", 65001))
    + encode_attr(0x40, 3, bytes([10, 0, 0, 1]))
)
HEAD = bgp4mp_peer_header(65001, 65000, True, "192.0.2.1", "192.0.2.2")


def update(ts: int, nlri: bytes = bytes([24, 192, 168, 1]), attrs: bytes = ATTRS) -> bytes:
    return mrt_record(ts, BGP4MP, 4, HEAD + bgp_update(b"", attrs, nlri))


def rib(ts: int) -> bytes:
    peers = peer_index_table("192.0.2.9", "v", [_Peer("192.0.2.1", "192.0.2.1", 65001, True)])
    entry = struct.pack(">HIH", 0, ts - 1000, len(ATTRS)) + ATTRS
    body = struct.pack(">I", 1) + bytes([24, 10, 0, 0]) + b"\x00\x01" + entry
    return mrt_record(ts, TABLE_DUMP_V2, 1, peers) + mrt_record(ts, TABLE_DUMP_V2, 2, body)


def convert(data: bytes, tmp_path: Path, engine: str) -> tuple[ConversionReport, list[Any]]:
    src = tmp_path / "in.mrt"
    src.write_bytes(data)
    dst = tmp_path / f"out.{engine}.avro"
    report = convert_file(
        src,
        dst,
        collector="rv",
        source_path=PATH,
        source_sha256="0" * 64,
        engine=engine,  # type: ignore[arg-type]
    )
    with dst.open("rb") as f:
        return report, list(fastavro.reader(f))


def months(rows: list[Any]) -> set[tuple[int, int]]:
    return {(r["timestamp"].year, r["timestamp"].month) for r in rows}


def test_a_file_spread_over_a_thousand_months_loads_into_at_most_two(tmp_path: Path) -> None:
    """Before: 1,201 rows in 1,201 monthly partitions, status ok. Now the rows outside a day
    either side of the name are counted, not written, and the file is partial."""
    data = update(T0 + 60)
    stamp = datetime(1970, 1, 15, tzinfo=UTC)
    for _ in range(1200):
        data += update(int(stamp.timestamp()))
        stamp = (stamp + timedelta(days=32)).replace(day=15)
    reports = {}
    for engine in ENGINES:
        report, rows = convert(data, tmp_path, engine)
        assert len(rows) == 1 and months(rows) == {(2026, 1)}
        assert (report.rows, report.time_dropped, report.status) == (1, 1200, "partial")
        assert report.time_window == (
            int((NAMED - timedelta(days=1)).timestamp()) * 1_000_000,
            int((NAMED + timedelta(days=1)).timestamp()) * 1_000_000,
        )
        assert report.time_note is not None and report.time_note.startswith(
            "1200 rows dated outside 2026-01-30 23:45 UTC .. 2026-02-01 23:45 UTC"
        )
        reports[engine] = report.to_dict()
    assert len({json.dumps(r, sort_keys=True) for r in reports.values()}) == 1


def test_the_window_edges_and_both_engines_agree_row_for_row(tmp_path: Path) -> None:
    """lo <= t < hi: a day before is in, a day after is out; the rows kept are the same on
    both engines, fast-path records and records handed to the reference alike (a repeated
    attribute sends an UPDATE to the reference; a RIB entry, a state change and an ET record
    take the C path), with row_index counting only the rows written."""
    repeated = ATTRS + encode_attr(0xC0, 8, b"\x00\x01\x00\x01") * 2
    state = mrt_record(T0 + DAY + 5, BGP4MP, 5, HEAD + b"\x00\x01\x00\x06")
    records = [
        update(T0 - DAY),  # in: the window's first second
        update(T0 - DAY - 1),  # out
        update(T0 + DAY - 1),  # in: its last second
        update(T0 + DAY),  # out
        update(0),  # 1970: out
        update(0xFFFFFFFF),  # 2106: out
        update(T0 + 2 * DAY, attrs=repeated),  # out, through the reference on the fast path
        update(T0 + 600, attrs=repeated),  # in, through the reference
        rib(T0 + 120),  # in
        rib(T0 - 40 * DAY),  # out
        state,  # out
        mrt_record_et(T0 - DAY, 1, 17, 4, HEAD + bgp_update(b"", ATTRS, bytes([8, 10]))),  # in
        mrt_record_et(T0 - DAY - 1, 999_999, 17, 5, HEAD + b"\x00\x01\x00\x06"),  # out
    ]
    data = b"".join(records)
    got = {}
    for engine in ENGINES:
        report, rows = convert(data, tmp_path, engine)
        assert report.time_dropped == 8, engine
        assert [r["row_index"] for r in rows] == list(range(5))
        assert all(
            NAMED - timedelta(days=1) <= r["timestamp"] < NAMED + timedelta(days=1) for r in rows
        )
        assert report.time_range is not None
        assert report.time_range[0] == (T0 - DAY) * 1_000_000
        got[engine] = (report.to_dict(), rows)
    assert len({repr(v) for v in got.values()}) == 1


def test_a_file_whose_rows_are_all_outside_loads_none_and_says_so(tmp_path: Path) -> None:
    """A collector whose clock is days off: no row is loaded, the file is partial with the
    reason, never "ok" with the rows scattered; and 200,000 such records are no row bomb."""
    for engine in ENGINES:
        report, rows = convert(update(T0 + 3 * DAY) * 3, tmp_path, engine)
        assert (rows, report.rows, report.time_dropped) == ([], 0, 3)
        assert report.status == "partial" and report.not_mrt is None


def test_a_source_path_that_names_no_time_keeps_every_row(tmp_path: Path) -> None:
    """A researcher's local file (``cloudz-convert x.mrt``) has no name time: nothing dropped."""
    src = tmp_path / "x.mrt"
    src.write_bytes(update(0) + update(T0))
    for engine in ENGINES:
        report = convert_file(
            src, tmp_path / "x.avro", collector="c", source_path="x.mrt", source_sha256="s",
            engine=engine,  # type: ignore[arg-type]
        )  # fmt: skip
        assert (report.rows, report.time_dropped, report.time_window) == (2, 0, None)


def test_the_cli_says_why_rows_are_missing(tmp_path: Path) -> None:
    src = tmp_path / "updates.mrt"
    src.write_bytes(update(T0) + update(0))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-m", "cloudz.cli.convert", str(src), "-o", str(tmp_path / "o.avro"),
         "--source-path", PATH],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # converted, damaged
    assert "1 rows dated outside 2026-01-30 23:45 UTC .. 2026-02-01 23:45 UTC" in proc.stderr
    assert "(partial)" in proc.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_the_report_travels_as_json(engine: str, tmp_path: Path) -> None:
    report, _ = convert(update(T0) + update(0), tmp_path, engine)
    back = ConversionReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert back == report and back.status == "partial"
    assert ConversionReport.from_dict({"rows": 1, "records": 1, "parse_errors": 0}).status == "ok"
