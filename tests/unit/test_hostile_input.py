"""Content that is not MRT, and decompression bombs, on both engines (``fast`` and ``python``).

A file with no MRT record in it (random bytes, text, an empty or zero-filled stream) gives a
report whose ``not_mrt`` says so; zero-filled records are damage, not records; a file that
expands far more than MRT does, or gives long runs of records without rows, raises
``LimitExceeded`` (cloudz/convert/limits.py). The two engines must agree on all of it, to the
word. No test here measures time: the limits are counts of bytes and records.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import random
import struct
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest
from samples import SAMPLES_DIR

from cloudz.convert import ConversionReport, Damage, convert_file, fast_path
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
UPDATES = "ripe-ris/updates.20020722.2238.gz"
"""A real update file (3,337 rows), small enough for the reference engine to be quick."""
RIB = "ripe-ris/bview.ipv4_unicast_add_path.gz"
"""A real RIB (62 rows) whose records all give rows, but the first (the peer table)."""


def convert(
    src: Path, tmp_path: Path, engine: str, limits: Limits = DEFAULT_LIMITS
) -> tuple[ConversionReport, list[dict[str, Any]]]:
    dst = tmp_path / f"{src.name}.{engine}.avro"
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
        rows = [cast(dict[str, Any], r) for r in fastavro.reader(f)]
    assert report.rows == len(rows)
    return report, rows


def outcome(src: Path, tmp_path: Path, engine: str, limits: Limits) -> ConversionReport | str:
    """The report, or the reason of the limit that stopped the conversion."""
    try:
        return convert(src, tmp_path, engine, limits)[0]
    except LimitExceeded as exc:
        return str(exc)


def raw_sample(name: str) -> bytes:
    data = (SAMPLES_DIR / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def record_offsets(mrt: bytes) -> list[int]:
    offsets, p = [], 0
    while p < len(mrt):
        offsets.append(p)
        p += 12 + struct.unpack_from(">I", mrt, p + 8)[0]
    return offsets


@functools.cache
def zero_bomb() -> bytes:
    """1 GiB of zeros as bz2: 785 bytes (compressed in 16 MiB steps, never 1 GiB in memory)."""
    comp = bz2.BZ2Compressor()
    zeros = bytes(16 << 20)
    return b"".join(comp.compress(zeros) for _ in range(64)) + comp.flush()


def _not_mrt_inputs() -> dict[str, tuple[bytes, str]]:
    """name: (file bytes, what the reason says after "not an MRT file: ")."""
    valid = raw_sample("quagga_bgp")
    return {
        "random bytes": (
            random.Random(9).randbytes(1 << 16),
            "the first record has MRT type 28332 at offset 0: no such type",
        ),
        "text": (b"this is not an MRT file\n" * 3, "the first record has MRT type 8297"),
        "empty gzip": (gzip.compress(b""), "empty gzip stream: it decompressed to 0 bytes"),
        "empty bz2": (bz2.compress(b""), "empty bz2 stream: it decompressed to 0 bytes"),
        "empty raw": (b"", "empty file: no MRT records"),
        "raw zeros": (
            bytes(4096),
            "the first record has MRT type 0 at offset 0: no such type (a header of zero bytes)",
        ),
        "gzip of zeros": (gzip.compress(bytes(1 << 20)), "MRT type 0 at offset 0"),
        "zero-length first record": (
            struct.pack(">IHHI", 1_700_000_000, 16, 4, 0) + valid,
            "the first record at offset 0 has type 16 and length 0: no body",
        ),
        "zero-filled first record": (
            struct.pack(">IHHI", 1_700_000_000, 13, 2, 40) + bytes(40) + valid,
            "the first record at offset 0 has type 13 and a body of 40 zero bytes",
        ),
        "a few bytes": (b"\x5f\x00\x00\x01\x00", "truncated MRT header at offset 0: 5 of 12"),
        "random bytes after a gzip header": (
            gzip.compress(b"")[:10] + random.Random(3).randbytes(4096),
            "gzip data corrupt",
        ),
    }


NOT_MRT = _not_mrt_inputs() if SAMPLES_DIR.is_dir() else {}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(NOT_MRT))
def test_a_file_with_no_mrt_record_is_not_mrt(name: str, engine: str, tmp_path: Path) -> None:
    data, says = NOT_MRT[name]
    report, rows = convert(write(tmp_path, "in", data), tmp_path, engine)
    assert (rows, report.rows, report.records) == ([], 0, 0)
    assert report.damage is not None and report.damage.offset == 0
    assert report.not_mrt is not None and report.not_mrt.startswith("not an MRT file: "), report
    assert says in report.not_mrt
    assert "rest of file unreadable" not in report.not_mrt


@pytest.mark.parametrize("engine", ENGINES)
def test_the_zero_bomb_is_not_mrt_at_its_first_record(engine: str, tmp_path: Path) -> None:
    """1 GiB of zeros in 785 bytes of bz2 used to be read to the end as 89 million empty
    records; its first header of zeros is damage at offset 0, so the stream is left at once."""
    bomb = write(tmp_path, "zeros.bz2", zero_bomb())
    assert bomb.stat().st_size < 1000
    report, rows = convert(bomb, tmp_path, engine)
    assert rows == [] and report.records == 0
    assert report.not_mrt == (
        "not an MRT file: the first record has MRT type 0 at offset 0: no such type "
        "(a header of zero bytes)"
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("compression", ["raw", "gzip", "bz2"])
@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(bytes(1 << 20), id="zeros"),
        pytest.param(struct.pack(">IHHI", 1_700_000_000, 16, 4, 0) * 1000, id="empty-records"),
        pytest.param(struct.pack(">IHHI", 1_700_000_000, 17, 4, 64) + bytes(64), id="zero-body"),
    ],
)
def test_a_valid_file_followed_by_zeros_is_partial_with_its_rows(
    tail: bytes, compression: str, engine: str, tmp_path: Path
) -> None:
    valid = raw_sample(UPDATES)
    data = valid + tail
    packed = {"raw": data, "gzip": gzip.compress(data), "bz2": bz2.compress(data)}[compression]
    whole, whole_rows = convert(write(tmp_path, "valid", valid), tmp_path, engine)
    report, rows = convert(write(tmp_path, "damaged", packed), tmp_path, engine)
    assert rows == whole_rows and report.rows == whole.rows > 3000
    assert report.records == whole.records
    assert report.status == "partial" and report.not_mrt is None
    assert report.damage is not None and report.damage.offset == len(valid)
    assert report.damage.records_skipped == 1


def test_damage_reasons_of_zeros_after_records(tmp_path: Path) -> None:
    valid = raw_sample("quagga_rib")
    n = len(valid)
    cases = {
        bytes(100): f"not an MRT record at offset {n}: unknown type 0 (a header of zero bytes)",
        struct.pack(">IHHI", 5, 16, 4, 0): f"zero-filled MRT record at offset {n} has type 16 "
        "and length 0: no body; rest of file unreadable",
        struct.pack(">IHHI", 5, 12, 1, 9) + bytes(9): f"zero-filled MRT record at offset {n} "
        "has type 12 and a body of 9 zero bytes; rest of file unreadable",
    }
    for tail, reason in cases.items():
        report, _ = convert(write(tmp_path, "z", valid + tail), tmp_path, "python")
        assert report.damage is not None and report.damage.reason.startswith(reason)


# ---- limits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_expansion_limit(engine: str, tmp_path: Path) -> None:
    """A stream that expands past its limit is refused whole, and ``dst`` is left as it was;
    the floor keeps a small file from ever being flagged, however well it compresses."""
    mrt = raw_sample("quagga_bgp") * 50  # 281 kB of MRT, 2.6 kB of gzip: a ratio of ~108
    src = write(tmp_path, "repeated.gz", gzip.compress(mrt))
    size = src.stat().st_size
    dst = tmp_path / "out.avro"
    dst.write_bytes(b"old")
    with pytest.raises(LimitExceeded) as raised:
        convert_file(
            src, dst, collector="c", source_path="p", source_sha256="s", engine=engine,  # type: ignore[arg-type]
            limits=Limits(max_expansion=100, expansion_floor=0),
        )  # fmt: skip
    assert str(raised.value) == (
        f"conversion limit: the {size}-byte gzip file decompresses to more than {100 * size} "
        f"bytes from its first {size} compressed bytes (100 times those, at least 0): a "
        "decompression bomb, not converted"
    )
    assert dst.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "out.avro",
        "repeated.gz",
    ]
    for room in (Limits(max_expansion=200, expansion_floor=0), Limits(1, len(mrt))):
        report, _ = convert(src, tmp_path, engine, room)
        assert report.damage is None and report.records == 67 * 50


@pytest.mark.skipif(not fast_path.available(), reason="_fastmrt not built")
def test_both_engines_stop_at_the_same_byte_limit(tmp_path: Path) -> None:
    """The fast engine reads ahead in 1 MiB chunks; the limit must still fall where the
    reference (which reads record by record) meets it: same report or same reason, for limits
    on, around and between record boundaries."""
    mrt = raw_sample("quagga_bgp") * 10
    src = write(tmp_path, "repeated.gz", gzip.compress(mrt))
    ends = [*record_offsets(mrt)[:16], len(mrt)]
    floors = sorted({max(0, e + d) for e in ends for d in (-13, -12, -1, 0, 1, 12)})
    for floor in floors:
        limits = Limits(max_expansion=1, expansion_floor=floor)
        fast = outcome(src, tmp_path, "fast", limits)
        assert fast == outcome(src, tmp_path, "python", limits), floor
        assert isinstance(fast, str) == (floor < len(mrt)), floor


def _keepalive() -> bytes:
    head = bgp4mp_peer_header(64496, 64497, True, "192.0.2.1", "192.0.2.2")
    return mrt_record(1_470_931_200, 16, 4, head + b"\xff" * 16 + struct.pack(">HB", 19, 4))


def _undecodable() -> bytes:
    """A BGP4MP UPDATE whose ORIGIN runs past the message: a parse error, after mrtparse ran."""
    head = bgp4mp_peer_header(64496, 64497, True, "192.0.2.1", "192.0.2.2")
    return mrt_record(1_470_931_200, 16, 4, head + bgp_update(b"", b"\x40\x01\x09\x00", b""))


ROWLESS = {
    "keepalive": _keepalive(),  # no rows, decoded in C
    "ospf": struct.pack(">IHHI", 1_470_931_200, 11, 0, 8) + bytes(range(1, 9)),  # Python, no rows
    "undecodable": _undecodable(),  # Python, a parse error
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("filler", sorted(ROWLESS))
def test_records_without_rows_in_a_row_limit(filler: str, engine: str, tmp_path: Path) -> None:
    mrt = raw_sample(RIB)
    offsets = record_offsets(mrt)
    _, ref_rows = convert(write(tmp_path, "u", mrt), tmp_path, "python")
    with_rows = {r["record_index"] for r in ref_rows}
    # between two records that give rows, so the run is the filler alone
    at = next(i for i in range(10, len(offsets)) if {i - 1, i} <= with_rows)
    limits = Limits(max_rowless_run=10)
    for n in (10, 11, 500):
        data = mrt[: offsets[at]] + ROWLESS[filler] * n + mrt[offsets[at] :]
        src = write(tmp_path, f"{filler}.gz", gzip.compress(data))
        if n <= limits.max_rowless_run:
            report, rows = convert(src, tmp_path, engine, limits)
            assert (len(rows), report.damage) == (len(ref_rows), None)
            assert report.parse_errors == (n if filler == "undecodable" else 0)
            continue
        with pytest.raises(LimitExceeded) as raised:
            convert(src, tmp_path, engine, limits)
        assert str(raised.value) == (
            f"conversion limit: 11 records in a row from offset {offsets[at]} give no rows "
            "(at most 10): not converted"
        )


@pytest.mark.skipif(not fast_path.available(), reason="_fastmrt not built")
def test_default_limits_stop_a_bomb_of_real_records(tmp_path: Path) -> None:
    """One real UPDATE repeated to 72 MiB: gzip packs it ~1000:1, and each copy gives rows, so
    only the expansion limit stops it (past max(100 x size, 64 MiB)). The fast engine only,
    the one tasks run: the reference would take a minute to read 64 MiB."""
    mrt = raw_sample("ripe-ris/updates.20160811.1600.gz")
    offsets = record_offsets(mrt)
    one = mrt[offsets[200] : offsets[201]]
    copies = (72 << 20) // len(one)
    comp = gzip.compress(one * copies, 9)
    src = write(tmp_path, "bomb.gz", comp)
    assert 100 * len(comp) < DEFAULT_LIMITS.expansion_floor < len(one) * copies
    with pytest.raises(LimitExceeded, match="a decompression bomb, not converted"):
        convert(src, tmp_path, "fast")


def test_not_mrt_of_a_report() -> None:
    """Not MRT: nothing decoded and the framing broke. Records that frame but do not decode,
    to the end of the file, are MRT this converter cannot read: partial, not refused."""
    empty = Damage(0, "empty file: no MRT records", 0)
    later = Damage(90, "truncated MRT header at offset 90: 3 of 12 bytes", 1)
    assert ConversionReport(0, 0, 0, empty).not_mrt == "not an MRT file: empty file: no MRT records"
    assert ConversionReport(0, 2, 2, later).not_mrt == (
        "not an MRT file: none of its 2 records decodes, then truncated MRT header at offset "
        "90: 3 of 12 bytes"
    )
    assert ConversionReport(0, 2, 2, None).not_mrt is None
    assert ConversionReport(0, 2, 1, later).not_mrt is None  # one record decoded (no rows)
    assert ConversionReport(5, 2, 0, None).not_mrt is None
