"""≥1M-row generated files: converter vs generator vs ``bgpdump -m``, every row, field by field.

All three sides are streamed (generator regenerated lazily from its seed, the converter's Avro
file read back with fastavro, bgpdump's stdout line by line), so memory stays flat whatever the
size. The converter is ``convert_file``'s default engine: the compiled fast path.
"""

from __future__ import annotations

import datetime
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest
from bgpdump import BGPDUMP, SKIP_REASON, parse_line, row_as_bgpdump

from cloudz.convert import convert_file
from cloudz.mrtgen import RibSpec, UpdatesSpec, generate_rib, generate_updates, write_file
from cloudz.mrtgen.records import GeneratedRecord

pytestmark = [pytest.mark.big, pytest.mark.skipif(BGPDUMP is None, reason=SKIP_REASON)]


def _bgpdump_lines(path: Path) -> Iterator[str]:
    assert BGPDUMP is not None
    with subprocess.Popen(
        [BGPDUMP, "-m", "-q", str(path)], stdout=subprocess.PIPE, text=True, bufsize=1 << 20
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            yield line.rstrip("\n")
    assert proc.returncode == 0


def _local_v4_quirk(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """The documented bgpdump 1.6.2 quirks (IPv4 peer of a *_LOCAL IPv6 withdrawal, single zero
    group of an IPv6 address printed as "::"), each asserted."""
    from test_mrtgen import known_difference

    return known_difference(ours, theirs)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
MICRO = datetime.timedelta(microseconds=1)


def _avro_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows as the converter wrote them, timestamps back to the microsecond ints it encoded."""
    with path.open("rb") as f:
        for row in fastavro.reader(f):
            assert isinstance(row, dict)
            for key in ("timestamp", "originated_time"):
                if isinstance(row[key], datetime.datetime):
                    row[key] = (row[key] - EPOCH) // MICRO
            yield row


def _differential(path: Path, records: Iterator[GeneratedRecord]) -> tuple[int, int, int]:
    """(rows, fields compared, bgpdump quirks); asserts every row and field."""
    avro = path.with_suffix(".avro")
    report = convert_file(avro.parent / path.name, avro, collector="c", source_path="p",
                          source_sha256="s")  # fmt: skip
    converted = _avro_rows(avro)
    lines = _bgpdump_lines(path)
    rows = fields = quirks = 0
    for rec in records:
        assert rec.expected is not None
        for want in rec.expected:
            got = next(converted)
            for key, value in want.items():
                assert got[key] == value, f"row {rows} {key}"
            fields += len(want)
            if rec.bgpdump_rows:
                ts = datetime.datetime.fromtimestamp(got["timestamp"] / 1e6, datetime.UTC)
                ours = row_as_bgpdump({**got, "timestamp": ts})
                theirs = parse_line(next(lines))
                fixed = _local_v4_quirk(ours, theirs)
                quirks += fixed is not theirs
                assert ours == fixed, f"row {rows}"
                fields += len(ours)
            rows += 1
    assert next(converted, None) is None and next(lines, None) is None
    assert report.damage is None and report.parse_errors == 0 and report.rows == rows
    return rows, fields, quirks


def _check_rib(spec: RibSpec, path: Path, label: str) -> None:
    """A generated RIB of >= 1M rows converts to exactly the rows bgpdump prints."""
    started = time.monotonic()
    written = write_file(path, generate_rib(spec))
    assert written.rows >= 1_000_000 and written.bgpdump_rows >= 1_000_000
    rows, fields, quirks = _differential(path, generate_rib(spec, expected=True))
    assert rows == written.rows
    print(
        f"\n{label}: {rows} rows, {fields} fields, {quirks} quirks, "
        f"{time.monotonic() - started:.0f}s"
    )


def test_million_row_rib_bz2(tmp_path: Path) -> None:
    _check_rib(RibSpec(peers=24, prefixes=50_000, seed=1), tmp_path / "rib.bz2", "RIB")


def test_million_row_varied_rib_bz2(tmp_path: Path) -> None:
    """40 peers, attribute-heavy routes (the bench's varied RIB): the attribute-set cache of
    the compiled path must give every row the columns of its own entry."""
    spec = RibSpec(peers=40, prefixes=28_600, seed=1, attributes="varied")
    _check_rib(spec, tmp_path / "rib-varied.bz2", "varied RIB")


def test_million_row_updates_gz(tmp_path: Path) -> None:
    spec = UpdatesSpec(rows=1_000_000, seed=1)
    path = tmp_path / "updates.gz"
    started = time.monotonic()
    written = write_file(path, generate_updates(spec))
    assert written.rows == written.bgpdump_rows == 1_000_000
    rows, fields, quirks = _differential(path, generate_updates(spec, expected=True))
    assert rows == 1_000_000 and quirks > 0
    print(
        f"\nupdates: {rows} rows, {fields} fields, {quirks} quirks, "
        f"{time.monotonic() - started:.0f}s"
    )
