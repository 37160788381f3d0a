"""The compiled converter (engine="fast") writes the rows and the report of the reference.

The reference is ``engine="python"`` (mrtparse + fastavro). Both files are read back with
fastavro and compared row by row, field by field, on every sample, on damaged copies, on
generated files and on random truncations and mutations (hypothesis: never a crash, same
report, same rows).
"""

from __future__ import annotations

import bz2
import gzip
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import SAMPLES_DIR

from cloudz.convert import ConversionReport, convert_file, fast_path

pytestmark = [
    pytest.mark.skipif(not fast_path.available(), reason="cloudz.convert._fastmrt not built"),
]
needs_samples = pytest.mark.skipif(not SAMPLES_DIR.is_dir(), reason=f"{SAMPLES_DIR} missing")

ALL_SAMPLES = (
    sorted(
        p.relative_to(SAMPLES_DIR).as_posix()
        for p in [*SAMPLES_DIR.iterdir(), *(SAMPLES_DIR / "ripe-ris").iterdir()]
        if p.is_file() and p.name != "README.md"
    )
    if SAMPLES_DIR.is_dir()
    else []
)


def convert(src: Path, dst_dir: Path, engine: str) -> tuple[ConversionReport, list[Any]]:
    dst = dst_dir / f"{src.name}.{engine}.avro"
    report = convert_file(
        src,
        dst,
        collector="route-views.test",
        source_path="a/b.mrt",
        source_sha256="ab" * 32,
        engine=engine,  # type: ignore[arg-type]
    )
    with dst.open("rb") as f:
        reader = fastavro.reader(f)
        # the fast path writes zstandard blocks (bench/README.md), the reference path deflate
        assert reader.metadata["avro.codec"] == ("zstandard" if engine == "fast" else "deflate")
        rows = [cast(dict[str, Any], r) for r in reader]
    return report, rows


def assert_same(src: Path, tmp_path: Path) -> ConversionReport:
    ref_report, ref_rows = convert(src, tmp_path, "python")
    report, rows = convert(src, tmp_path, "fast")
    assert report == ref_report
    assert len(rows) == len(ref_rows) == report.rows
    for i, (row, ref) in enumerate(zip(rows, ref_rows, strict=True)):
        assert row == ref, f"{src.name} row {i}: " + ", ".join(
            f"{k}: {row.get(k)!r} != {ref.get(k)!r}" for k in ref if row.get(k) != ref.get(k)
        )
    return report


def record_offsets(mrt: bytes) -> list[int]:
    offsets, p = [], 0
    while p + 12 <= len(mrt):
        offsets.append(p)
        p += 12 + struct.unpack_from(">I", mrt, p + 8)[0]
    return offsets


def raw_sample(name: str) -> bytes:
    data = (SAMPLES_DIR / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


@needs_samples
@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_rows_equal_the_reference(name: str, tmp_path: Path) -> None:
    assert_same(SAMPLES_DIR / name, tmp_path)


@needs_samples
@pytest.mark.parametrize(
    "damage",
    [
        "truncate-body",
        "truncate-header",
        "bad-length",
        "huge-length",
        "garbage",
        "bad-entry",
        "zeros",
        "zero-body",
    ],
)
@pytest.mark.parametrize("name", ["quagga_bgp", "quagga_rib", "ripe-ris/updates.20160811.1600.gz"])
def test_damaged_copies_give_the_same_report_and_rows(
    name: str, damage: str, tmp_path: Path
) -> None:
    mrt = bytearray(raw_sample(name))
    offsets = record_offsets(bytes(mrt))
    at = offsets[len(offsets) // 2]
    if damage == "truncate-body":
        data = bytes(mrt[: at + 15])
    elif damage == "truncate-header":
        data = bytes(mrt[: at + 7])
    elif damage == "bad-length":
        struct.pack_into(">I", mrt, at + 8, 7)
        data = bytes(mrt)
    elif damage == "huge-length":
        struct.pack_into(">I", mrt, at + 8, 0xFFFFFFFF)
        data = bytes(mrt)
    elif damage == "garbage":
        data = bytes(mrt[:at]) + b"\xff" * 40
    elif damage == "zeros":
        data = bytes(mrt[:at]) + bytes(4096) + bytes(mrt[at:])
    elif damage == "zero-body":  # a sane header, a body of zeros
        length = struct.unpack_from(">I", mrt, at + 8)[0]
        mrt[at + 12 : at + 12 + length] = bytes(length)
        data = bytes(mrt)
    else:  # a sane length around a body that does not decode
        for i in range(at + 16, min(at + 40, len(mrt))):
            mrt[i] ^= 0xFF
        data = bytes(mrt)
    src = tmp_path / "damaged.mrt"
    src.write_bytes(data)
    report = assert_same(src, tmp_path)
    assert report.status == "partial" or damage == "bad-entry"


@needs_samples
def test_compressed_damage_gives_the_same_report(tmp_path: Path) -> None:
    gz = (SAMPLES_DIR / "ripe-ris/updates.20071015.1505.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(gz[: len(gz) // 2])
    assert assert_same(tmp_path / "cut.gz", tmp_path).damage is not None
    corrupt = bytearray(gz)
    corrupt[len(gz) // 2 : len(gz) // 2 + 64] = bytes(64)
    (tmp_path / "bad.gz").write_bytes(bytes(corrupt))
    assert assert_same(tmp_path / "bad.gz", tmp_path).status == "partial"
    raw = raw_sample("quagga_bgp") * 30
    data = bz2.compress(raw)
    (tmp_path / "cut.bz2").write_bytes(data[:-40])
    assert assert_same(tmp_path / "cut.bz2", tmp_path).damage is not None
    (tmp_path / "empty").write_bytes(b"")
    assert assert_same(tmp_path / "empty", tmp_path).damage is not None


def test_tiny_blocks_and_many_fallbacks(tmp_path: Path) -> None:
    """Blocks of one row and records the C decoder hands back mix in one file, in order."""
    src = SAMPLES_DIR / "openbgpd_rib_table-v2"  # a RIB_GENERIC VPN record among TD2 entries
    dst = tmp_path / "tiny.avro"
    report = fast_path.convert_file_fast(
        src, dst, collector="c", source_path="p", source_sha256="s", block_size=1
    )
    with dst.open("rb") as f:
        rows = [cast(dict[str, Any], r) for r in fastavro.reader(f)]
    assert [r["row_index"] for r in rows] == list(range(report.rows))
    _, ref_rows = convert(src, tmp_path, "python")
    for r in ref_rows:
        r.update(collector="c", source_path="p", source_sha256="s")
    assert rows == ref_rows


def _mrtgen(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / f"gen-{args[0]}-{len(list(tmp_path.iterdir()))}.mrt"
    subprocess.run(
        [sys.executable, "-m", "cloudz.mrtgen", *args, "-o", str(out), "--compression", "raw"],
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_rib_equals_the_reference(tmp_path: Path, seed: int) -> None:
    pytest.importorskip("cloudz.mrtgen")
    src = _mrtgen(tmp_path, "rib", "--peers", "21", "--prefixes", "300", "--seed", str(seed))
    assert assert_same(src, tmp_path).rows > 1000


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_updates_equal_the_reference(tmp_path: Path, seed: int) -> None:
    pytest.importorskip("cloudz.mrtgen")
    src = _mrtgen(tmp_path, "updates", "--rows", "3000", "--seed", str(seed))
    assert assert_same(src, tmp_path).rows == 3000


def _corpus() -> bytes:
    if not SAMPLES_DIR.is_dir():
        return b""
    names = ["quagga_bgp", "quagga_rib", "bird_bgp", "openbgpd_rib_table", "bird6-mrtdump_rib"]
    return b"".join(raw_sample(n) for n in names)


_CORPUS = _corpus()


@needs_samples
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(min_value=0, max_value=max(len(_CORPUS), 1)),
    flips=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=max(len(_CORPUS) - 1, 0)), st.integers(1, 255)
        ),
        max_size=6,
    ),
    junk=st.binary(max_size=24),
)
def test_random_truncations_and_mutations_match_the_reference(
    tmp_path: Path, cut: int, flips: list[tuple[int, int]], junk: bytes
) -> None:
    data = bytearray(_CORPUS[:cut])
    for pos, x in flips:
        if pos < len(data):
            data[pos] ^= x
    src = tmp_path / "fuzz.mrt"
    src.write_bytes(bytes(data) + junk)
    assert_same(src, tmp_path)


@needs_samples
def test_mutations_of_every_field_byte(tmp_path: Path) -> None:
    """Deterministic sweep: each byte of a few records set to 0x00, 0xff or +1 in turn."""
    rng = random.Random(5)
    base = raw_sample("quagga_bgp")
    offsets = record_offsets(base)
    for _ in range(40):
        at = rng.choice(offsets)
        data = bytearray(base)
        pos = at + rng.randrange(12, 12 + struct.unpack_from(">I", base, at + 8)[0])
        data[pos] = rng.choice([0, 0xFF, (data[pos] + 1) & 0xFF])
        src = tmp_path / "mut.mrt"
        src.write_bytes(bytes(data))
        assert_same(src, tmp_path)


def test_generated_host_bit_prefixes_equal_the_reference(tmp_path: Path) -> None:
    """Host bits are cleared by the C decoder itself (no fallback) and counted alike."""
    pytest.importorskip("cloudz.mrtgen")
    src = _mrtgen(tmp_path, "updates", "--rows", "3000", "--seed", "4", "--host-bits-share", "0.4")
    report = assert_same(src, tmp_path)
    assert report.rows == 3000 and report.masked_prefixes > 100 and report.status == "ok"


def test_the_header_holds_the_row_schema_as_written(tmp_path: Path) -> None:
    """The fast path writes the container header itself: the .avsc, its codec, readable."""
    import json

    from cloudz.warehouse.schema import raw_avro_schema

    schemas = []
    for engine in ("fast", "python"):
        _, rows = convert(SAMPLES_DIR / "quagga_rib", tmp_path, engine)
        assert rows
        with (tmp_path / f"quagga_rib.{engine}.avro").open("rb") as f:
            schemas.append(json.loads(fastavro.reader(f).metadata["avro.schema"]))
    assert schemas[0] == raw_avro_schema()  # fastavro writes its parsed form: the same schema
    assert fastavro.parse_schema(schemas[0]) == fastavro.parse_schema(schemas[1])


def test_a_rib_converted_alone_never_imports_mrtparse_or_fastavro(tmp_path: Path) -> None:
    """Their imports were half a small RIB's time (bench/README.md): the compiled path reads
    the peer index itself and writes the header itself, so neither is loaded."""
    pytest.importorskip("cloudz.mrtgen")
    src = _mrtgen(tmp_path, "rib", "--peers", "5", "--prefixes", "50")
    script = (
        "import sys; from pathlib import Path; from cloudz.convert import convert_file; "
        f"r = convert_file(Path({str(src)!r}), Path({str(tmp_path / 'o.avro')!r}), "
        "collector='c', source_path='p', source_sha256='s'); "
        "print(r.rows, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mrtparse', 'fastavro')))"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    rows, loaded = out.stdout.split(" ", 1)
    assert int(rows) > 100 and loaded.strip() == "[]"


def test_a_rib_entry_handed_back_after_the_peer_index_gets_its_peers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference's row builder is made at the first record the C decoder hands back
    (an attribute twice, here), after the peer index was read without it."""
    peer_index = struct.pack(">4sH", bytes(4), 0) + struct.pack(">H", 2)
    peer_index += struct.pack(">B4s4sH", 0, bytes(4), bytes([192, 0, 2, 1]), 64500)
    peer_index += struct.pack(">B4s16sI", 3, bytes(4), bytes(15) + b"\x01", 4200000000)
    origin = bytes([0x40, 1, 1, 0])
    as_path = bytes([0x40, 2, 6, 2, 1]) + struct.pack(">I", 4200000000)
    next_hop = bytes([0x40, 3, 4, 192, 0, 2, 1])
    attrs = origin + origin + as_path + next_hop  # ORIGIN twice: the C decoder hands it back
    entry = struct.pack(">HIH", 1, 1700000000, len(attrs)) + attrs
    rib = struct.pack(">I", 0) + bytes([24, 198, 51, 100]) + struct.pack(">H", 1) + entry

    def record(subtype: int, body: bytes) -> bytes:
        return struct.pack(">IHHI", 1700000000, 13, subtype, len(body)) + body

    src = tmp_path / "dup.mrt"
    src.write_bytes(record(1, peer_index) + record(2, rib))
    handed_back: list[int] = []
    real = fast_path._Run.reference

    def spy(run: Any, rec: Any) -> None:  # a spy: the real method runs
        handed_back.append(rec.subtype)
        real(run, rec)

    monkeypatch.setattr(fast_path._Run, "reference", spy)
    report = assert_same(src, tmp_path)
    assert handed_back == [1, 2] and report.rows == 1 and report.parse_errors == 0
