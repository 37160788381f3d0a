"""Decompressing in a second thread (``fast_path._ReadAhead``) changes nothing but the time.

The thread reads ahead of the C converter by up to ``READ_AHEAD`` chunks: when the converter
stops early (damage), what it read past that point must reach the reference framing, and an
expansion limit it met there must not be raised. Each input is converted with and without the
thread; reports and rows must be equal, on inputs spanning several chunks.
"""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest

from cloudz.convert import ConversionReport, fast_path
from cloudz.convert.limits import LimitExceeded, Limits
from cloudz.mrtgen import RibSpec, generate_rib

pytestmark = pytest.mark.skipif(not fast_path.available(), reason="_fastmrt not built")


def _rib() -> bytes:
    """~6 MB of TABLE_DUMP_V2: six chunks of READ_SIZE."""
    return b"".join(r.data for r in generate_rib(RibSpec(peers=30, prefixes=1200, seed=4)))


def _convert(
    src: Path, tmp_path: Path, read_ahead: bool, limits: Limits, monkeypatch: pytest.MonkeyPatch
) -> tuple[ConversionReport, list[Any]] | str:
    monkeypatch.setattr(fast_path, "read_ahead_wanted", lambda stream: read_ahead)
    dst = tmp_path / f"out-{read_ahead}.avro"
    try:
        report = fast_path.convert_file_fast(
            src, dst, collector="c", source_path="p", source_sha256="s", limits=limits
        )
    except LimitExceeded as e:
        return str(e)
    with dst.open("rb") as f:
        rows = [cast(dict[str, Any], r) for r in fastavro.reader(f)]
    return report, rows


CASES = {
    "whole bz2": lambda mrt: bz2.compress(mrt),
    "two bz2 streams": lambda mrt: bz2.compress(mrt[:1_000_000]) + bz2.compress(mrt[1_000_000:]),
    "zeros mid-file": lambda mrt: gzip.compress(mrt[:2_500_000] + bytes(4096) + mrt[2_500_000:]),
    "cut bz2": lambda mrt: bz2.compress(mrt)[:-5000],
    "garbage after bz2": lambda mrt: bz2.compress(mrt) + b"not bz2",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_report_and_rows_with_and_without_the_thread(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mrt = _rib()
    src = tmp_path / "in"
    src.write_bytes(CASES[case](mrt))
    limits = Limits()
    alone = _convert(src, tmp_path, False, limits, monkeypatch)
    ahead = _convert(src, tmp_path, True, limits, monkeypatch)
    assert not isinstance(alone, str) and alone[0].rows > 10_000
    assert ahead == alone


@pytest.mark.parametrize("limit", [1_000_000, 2_400_000, 3_000_000, 5_000_000])
def test_limits_fall_where_they_fall_without_the_thread(
    limit: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Damage at 2.5 MB: a limit beyond it is never met (the thread may have met it)."""
    mrt = _rib()
    src = tmp_path / "in.gz"
    src.write_bytes(gzip.compress(mrt[:2_500_000] + bytes(4096) + mrt[2_500_000:]))
    limits = Limits(max_expansion=1, expansion_floor=limit)
    alone = _convert(src, tmp_path, False, limits, monkeypatch)
    assert _convert(src, tmp_path, True, limits, monkeypatch) == alone
    assert isinstance(alone, str) == (limit < 2_500_000)
