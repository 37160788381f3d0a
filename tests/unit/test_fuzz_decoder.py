"""Fuzzing the converter: arbitrary bytes, well-framed records with random bodies, and mutated
real and generated files. Nothing may escape but the documented report (damage, parse
errors); every whole record before damage is read; memory stays bounded.

Bounded in time: a fixed ``max_examples`` and no per-example deadline (conversion time
varies with the machine, so a deadline would only make the tests flaky).
"""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from bgpdump import REFERENCE_ENGINE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import SAMPLES_DIR

from cloudz.convert import ConversionReport, convert_file
from cloudz.convert.reference import _Tally, iter_rows
from cloudz.convert.report import Damage
from cloudz.mrtgen import RibSpec, UpdatesSpec, generate_rib, generate_updates

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MEMORY_LIMIT = 64 << 20
"""Peak Python allocation allowed while converting a fuzzed input of at most a few KiB."""

# (type, subtype) pairs whose decoders the framed-record fuzzing reaches
DECODED_KINDS = [
    (12, 1), (12, 2),  # TABLE_DUMP IPv4, IPv6
    *((13, s) for s in range(1, 13)),  # TABLE_DUMP_V2, all subtypes
    *((m, s) for m in (16, 17) for s in range(12)),  # BGP4MP(_ET), all subtypes
]  # fmt: skip


def _raw(name: str) -> bytes:
    data = (SAMPLES_DIR / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def _generated() -> bytes:
    rib = b"".join(r.data for r in generate_rib(RibSpec(peers=4, prefixes=30, seed=9)))
    upd = b"".join(r.data for r in generate_updates(UpdatesSpec(rows=200, seed=9)))
    return rib + upd


SEEDS: dict[str, bytes] = {"generated": _generated()}
if SAMPLES_DIR.is_dir():
    SEEDS |= {n: _raw(n) for n in ("quagga_bgp", "quagga_rib", "openbgpd_rib_table", "bird_bgp")}


def convert_bytes(tmp_path: Path, data: bytes) -> tuple[ConversionReport, list[dict[str, Any]]]:
    """Convert ``data`` with memory tracked; only the report and rows may come out."""
    src = tmp_path / "fuzz.mrt"
    src.write_bytes(data)
    tally = _Tally()
    damage: list[Damage] = []
    tracemalloc.start()
    try:
        rows = list(
            iter_rows(src, tally, damage, collector="c", source_path="p", source_sha256="s")
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, peak
    report = ConversionReport(
        tally.rows, tally.records, tally.parse_errors, next(iter(damage), None)
    )
    assert len(damage) <= 1 and report.rows == len(rows)
    assert [r["row_index"] for r in rows] == list(range(len(rows)))
    if report.damage is not None:
        assert 0 <= report.damage.offset <= len(data) and report.damage.reason
        assert report.damage.records_skipped in (0, 1)
    return report, rows


def whole_records(data: bytes) -> int:
    """How many whole records the framing must deliver before the first damage."""
    n = p = 0
    while p + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, p + 8)
        mrt_type = struct.unpack_from(">H", data, p + 4)[0]
        if p + 12 + length > len(data) or length > 64 << 20 or mrt_type not in KNOWN_TYPES:
            break
        if not any(data[p + 12 : p + 12 + length]):  # empty or zero-filled: damage
            break
        n += 1
        p += 12 + length
    return n


#: RFC 6396's types, deprecated ones included, except 0 (NULL: what zero-filled bytes read as)
KNOWN_TYPES = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 32, 33, 48, 49}


@FUZZ
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    report, _ = convert_bytes(tmp_path, data)
    assert report.records == whole_records(data)


@FUZZ
@given(
    kind=st.sampled_from(DECODED_KINDS),
    body=st.binary(max_size=600),
    timestamp=st.integers(0, 2**32 - 1),
    prefix=st.sampled_from(list(SEEDS)),
)
def test_well_framed_records_with_random_bodies(
    tmp_path: Path, kind: tuple[int, int], body: bytes, timestamp: int, prefix: str
) -> None:
    """Valid headers, random bodies: this reaches the record and attribute decoders. Placed
    after a real file's first records (so a PEER_INDEX_TABLE may precede it) and before a
    known-good record that must still convert."""
    head = SEEDS[prefix][: _record_end(SEEDS[prefix], 3)]
    tail = SEEDS["generated"][: _record_end(SEEDS["generated"], 1)]
    record = struct.pack(">IHHI", timestamp, *kind, len(body)) + body
    report, _ = convert_bytes(tmp_path, head + record + tail)
    if not any(body):  # an empty or zero-filled body is damage, not a record
        assert report.records == 3 and report.damage is not None
        assert report.damage.offset == len(head)
        return
    assert report.records == 5 and report.damage is None
    assert report.parse_errors <= 1


@FUZZ
@given(
    name=st.sampled_from(list(SEEDS)),
    edits=st.lists(
        st.tuples(
            st.floats(0, 1, exclude_max=True),
            st.sampled_from("xid"),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=6,
    ),
    cut=st.floats(0.05, 1),
)
def test_mutated_files(
    tmp_path: Path, name: str, edits: list[tuple[float, str, bytes]], cut: float
) -> None:
    """Flip, insert and delete bytes anywhere in a real or generated file (and cut it short):
    the records before the first edit convert exactly as in the original."""
    original = SEEDS[name][: max(1, int(len(SEEDS[name]) * cut))]
    data = bytearray(original)
    first = len(data)
    for where, op, blob in edits:
        i = int(where * len(data))
        first = min(first, i)
        if op == "x":
            data[i : i + len(blob)] = bytes(a ^ b for a, b in zip(data[i:], blob, strict=False))
        elif op == "i":
            data[i:i] = blob
        else:
            del data[i : i + len(blob)]
    report, rows = convert_bytes(tmp_path, bytes(data))
    good_report, good = convert_bytes(tmp_path, original[: _whole_before(original, first)])
    assert report.records >= good_report.records
    assert rows[: len(good)] == good


def _record_end(data: bytes, n: int) -> int:
    p = 0
    for _ in range(n):
        p += 12 + struct.unpack_from(">I", data, p + 8)[0]
    return p


def _whole_before(data: bytes, offset: int) -> int:
    """End of the last whole record that lies entirely before ``offset``."""
    p = 0
    while p + 12 <= len(data):
        end = p + 12 + struct.unpack_from(">I", data, p + 8)[0]
        if end > offset:
            break
        p = end
    return p


@pytest.mark.parametrize("length", [0xFFFFFFFF, (64 << 20) - 1])
def test_huge_claimed_lengths_do_not_allocate(tmp_path: Path, length: int) -> None:
    """A header claiming a huge body on a small file: damage, not a 4 GiB (or 64 MiB) read."""
    report, rows = convert_bytes(tmp_path, struct.pack(">IHHI", 0, 16, 4, length) + b"\0" * 100)
    assert rows == [] and report.damage is not None and report.damage.offset == 0


def test_damage_report_of_convert_file(tmp_path: Path) -> None:
    """The public entry point gives the same report (no exception) on a mangled file."""
    data = SEEDS["generated"]
    src = tmp_path / "bad.mrt"
    cut = _record_end(data, 20)
    src.write_bytes(data[:cut] + b"\xff" * 40)
    report = convert_file(src, tmp_path / "o.avro", collector="c", source_path="p",
                          source_sha256="s", **REFERENCE_ENGINE)  # fmt: skip
    assert report.status == "partial" and report.damage is not None
    assert (report.records, report.damage.offset) == (20, cut)
    assert "not an MRT record" in report.damage.reason
