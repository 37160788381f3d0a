"""Row bombs and padding (issue 20, item 2): the work a file may cause is bounded per byte of it.

A 155-byte bz2 of UPDATEs listing one prefix over and over converted to 4,125,744 rows (186 s,
every record on the slow reference path) and loaded them; 1 MiB of zeros appended to a file
refused as a bomb raised its expansion limit (100x the size on disk) and it converted. Now the
limits count the compressed bytes that decode, rows are bounded per such byte
(``limits.MAX_ROWS_PER_BYTE``, at least ``ROWS_FLOOR``), and duplicate prefixes stay in C.
"""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest
from samples import SAMPLES_DIR

from cloudz.convert import ConversionReport, convert_file, fast_path
from cloudz.convert.limits import DEFAULT_LIMITS, LimitExceeded, Limits
from cloudz.mrtgen.records import bgp4mp_peer_header, bgp_update, mrt_record

pytestmark = pytest.mark.skipif(not SAMPLES_DIR.is_dir(), reason=f"{SAMPLES_DIR} missing")

ENGINES = [
    "python",
    pytest.param(
        "fast",
        marks=pytest.mark.skipif(not fast_path.available(), reason="_fastmrt not built"),
    ),
]
ATTRS = (
    b"\x40\x01\x01\x00"  # ORIGIN IGP
    + b"\x40\x02\x06\x02\x01\x00\x00\xfb\xf0"  # AS_PATH 64496
    + b"\x40\x03\x04\xc0\x00\x02\x01"  # NEXT_HOP 192.0.2.1
)


def update(nlri: bytes, withdrawn: bytes = b"", subtype: int = 4) -> bytes:
    head = bgp4mp_peer_header(64496, 64497, True, "192.0.2.1", "192.0.2.2")
    return mrt_record(1_470_931_200, 16, subtype, head + bgp_update(withdrawn, ATTRS, nlri))


def convert(
    src: Path, tmp_path: Path, engine: str, limits: Limits = DEFAULT_LIMITS
) -> tuple[ConversionReport, list[dict[str, Any]]]:
    dst = tmp_path / f"out.{engine}.avro"
    report = convert_file(
        src,
        dst,
        collector="c",
        source_path="p",
        source_sha256="s",
        engine=engine,  # type: ignore[arg-type]
        limits=limits,
    )
    with dst.open("rb") as f:
        return report, [cast(dict[str, Any], r) for r in fastavro.reader(f)]


def outcome(src: Path, tmp_path: Path, engine: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    try:
        return convert(src, tmp_path, engine, limits)
    except LimitExceeded as e:
        return str(e)


def row_bomb(records: int) -> bytes:
    """``records`` UPDATEs of 1,000 copies of 10.0.0.0/24 (and one /25 with a host bit), as bz2."""
    one = update(b"\x18\x0a\x00\x00" * 999 + b"\x19\x0a\x00\x00\x81")
    comp = bz2.BZ2Compressor(9)
    return b"".join(comp.compress(one * 100) for _ in range(records // 100)) + comp.flush()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_row_bomb_is_refused(engine: str, tmp_path: Path) -> None:
    """~4 million rows from a few hundred bytes (the issue's bomb gave 4,125,744 rows from 155):
    refused with the same reason by both engines, after at most ROWS_FLOOR rows."""
    src = tmp_path / "bomb.bz2"
    src.write_bytes(row_bomb(4000))
    size = src.stat().st_size
    assert size < 5000  # 16 MB of MRT
    with pytest.raises(LimitExceeded) as raised:
        convert(src, tmp_path, engine)
    assert str(raised.value) == (
        f"conversion limit: the {size}-byte bz2 file gives more than 8 rows per compressed byte "
        "that decodes (at least 100000 allowed): a row bomb, not converted"
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("pad", [b"\x00", b"\xff"])
def test_padding_buys_nothing(engine: str, pad: bytes, tmp_path: Path) -> None:
    """A file refused as a bomb stays refused with 1 MiB of zeros (or other bytes) after it;
    the limit names the compressed bytes that decoded, not the file's size."""
    mrt = gzip.decompress((SAMPLES_DIR / "ripe-ris/updates.20020722.2238.gz").read_bytes())
    data = bz2.compress(mrt * 8, 9)  # 27k rows in ~15 kB
    limits = Limits(max_expansion=len(mrt * 8) // len(data) // 2, expansion_floor=0)
    src = tmp_path / "bomb.bz2"
    src.write_bytes(data)
    refused = outcome(src, tmp_path, engine, limits)
    assert isinstance(refused, str) and "a decompression bomb" in refused
    src.write_bytes(data + pad * (1 << 20))
    padded = outcome(src, tmp_path, engine, limits)
    assert padded == refused.replace(f"the {len(data)}-byte", f"the {len(data) + (1 << 20)}-byte")
    # the rows: same with padding
    rows = Limits(max_rows_per_byte=1, rows_floor=0)
    src.write_bytes(data)
    refused = outcome(src, tmp_path, engine, rows)
    assert isinstance(refused, str) and "a row bomb" in refused
    src.write_bytes(data + pad * (1 << 20))
    padded = outcome(src, tmp_path, engine, rows)
    assert padded == refused.replace(f"the {len(data)}-byte", f"the {len(data) + (1 << 20)}-byte")


def test_both_engines_agree_at_the_row_limit(tmp_path: Path) -> None:
    """Around the limit (rows against 8 x the bytes that decode), the same outcome: refused
    with the same reason, or the same report and rows."""
    if not fast_path.available():
        pytest.skip("_fastmrt not built")
    src = tmp_path / "bomb.bz2"
    src.write_bytes(row_bomb(200))
    size = src.stat().st_size
    rows = convert(src, tmp_path, "fast", Limits(rows_floor=1 << 30))[0].rows
    assert rows == 100_000  # the lists read as ADD-PATH: 500 rows a record
    for floor in (rows - 1, rows, rows + 1):
        limits = Limits(max_rows_per_byte=1, rows_floor=floor)
        fast = outcome(src, tmp_path, "fast", limits)
        assert isinstance(fast, str) == (floor < rows), floor
        if isinstance(fast, str):
            assert fast == outcome(src, tmp_path, "python", limits)
    for per_byte in (rows // size, rows // size + 1):
        limits = Limits(max_rows_per_byte=per_byte, rows_floor=0)
        assert isinstance(outcome(src, tmp_path, "fast", limits), str) == (per_byte * size < rows)


def nlri_cases() -> dict[str, bytes]:
    return {
        # a list that reads whole as ADD-PATH once it holds a prefix twice: ADD-PATH rows
        "reads as add-path": b"\x18\x0a\x00\x00" * 4,
        # a list that does not: the plain prefixes, duplicates kept
        "plain duplicates": b"\x18\x0a\x00\x00" * 3,
        "duplicates with host bits": b"\x19\x0a\x00\x00\x81" * 3 + b"\x08\x0b",
        "one prefix": b"\x18\x0a\x00\x00",
        "no duplicate": b"\x18\x0a\x00\x00\x18\x0a\x00\x01",
    }


@pytest.mark.skipif(not fast_path.available(), reason="_fastmrt not built")
@pytest.mark.parametrize("case", sorted(nlri_cases()))
def test_duplicate_prefixes_stay_on_the_fast_path(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows of the reference, written by C (no record handed back), for announcements
    and withdrawals whose lists hold a prefix twice."""
    nlri = nlri_cases()[case]
    data = update(nlri) + update(b"", withdrawn=nlri)
    src = tmp_path / "dups.gz"
    src.write_bytes(gzip.compress(data))
    expected = convert(src, tmp_path, "python")

    def no_fallback(self: Any, record: Any) -> None:
        raise AssertionError(f"record {record.index} handed back to the reference")

    monkeypatch.setattr(fast_path._Run, "reference", no_fallback)
    assert convert(src, tmp_path, "fast") == expected


def test_a_row_bomb_within_raised_limits_is_converted_by_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500,000 rows of duplicate prefixes (limits raised), no record handed back."""
    if not fast_path.available():
        pytest.skip("_fastmrt not built")
    src = tmp_path / "dups.bz2"
    src.write_bytes(row_bomb(1000))

    def no_fallback(self: Any, record: Any) -> None:
        raise AssertionError(f"record {record.index} handed back to the reference")

    monkeypatch.setattr(fast_path._Run, "reference", no_fallback)
    report, _ = convert(src, tmp_path, "fast", Limits(rows_floor=1 << 30))
    assert report.rows == 500_000


def test_rows_per_byte_of_real_files(tmp_path: Path) -> None:
    """The samples stay far below the bound: at most 0.3 rows per bz2 byte (docs in limits)."""
    for name in ("updates.20020722.2238.gz", "updates.20071015.1505.gz"):
        mrt = gzip.decompress((SAMPLES_DIR / "ripe-ris" / name).read_bytes())
        src = tmp_path / "real.bz2"
        src.write_bytes(bz2.compress(mrt, 9))
        report, _ = convert(src, tmp_path, "fast")
        assert report.rows / src.stat().st_size < DEFAULT_LIMITS.max_rows_per_byte / 20
