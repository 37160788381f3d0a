"""MRT → Avro converter: exact against ``bgpdump -m`` on every sample, and safe on damaged input."""

from __future__ import annotations

import bz2
import collections
import functools
import gzip
import json
import struct
import tempfile
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest
from bgpdump import BGPDUMP, REFERENCE_ENGINE, SKIP_REASON, bgpdump_rows, row_as_bgpdump
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import SAMPLES_DIR

from cloudz.convert import ConversionReport, Damage, convert_file
from cloudz.convert.framing import MAX_RECORD_LEN

SAMPLES = SAMPLES_DIR
ALL_SAMPLES = sorted(
    p.relative_to(SAMPLES).as_posix()
    for p in [*SAMPLES.iterdir(), *(SAMPLES / "ripe-ris").iterdir()]
    if p.is_file() and p.name != "README.md"
)
# bgpdump prints nothing for BGP4MP_ENTRY; it misreads BIRD's ADD-PATH NLRI in MESSAGE_AS4
EXCEPTIONS = {"openbgpd_rib_table-mp", "bird_bgp", "bird6_bgp"}
# OpenBGPD writes an 8-byte (4-byte AS) AGGREGATOR into TABLE_DUMP (v1); bgpdump reads its first
# 2 bytes as the AS and the next 4 as the address. Its TABLE_DUMP_V2 dump of the same RIB
# (openbgpd_rib_table-v2) has the aggregator bgpdump also prints as "65000 192.168.0.15".
# It also writes IPv4 peers of IPv6 TABLE_DUMP entries as 4 address bytes + 12 zero bytes:
# bgpdump prints "c0a8:10a::", mrtparse (and the TABLE_DUMP_V2 dump) says 192.168.1.10.


def known_differences(name: str, ours: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Fields of this line where bgpdump is known to be wrong: {field: (ours, bgpdump's)}."""
    if name != "openbgpd_rib_table" or ours["entry_type"] != "B":
        return {}
    found = {}
    if ours["aggregator"] == "65000 192.168.0.15":
        found["aggregator"] = ("65000 192.168.0.15", "0 253.232.192.168")
    if ":" in ours["prefix"] and ours["peer_ip"] == "192.168.1.10":
        found["peer_ip"] = ("192.168.1.10", "c0a8:10a::")
    return found


KNOWN_DIFFERENCE_COUNTS = {"openbgpd_rib_table": 11}  # 1 aggregator + 10 IPv6 entries' peers
needs_bgpdump = pytest.mark.skipif(BGPDUMP is None, reason=SKIP_REASON)
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} missing")

pytestmark = needs_samples
PER_FILE: dict[str, Any] = {"collector": "c", "source_path": "p", "source_sha256": "s"}


def convert(src: Path, tmp_path: Path) -> tuple[ConversionReport, list[dict[str, Any]]]:
    dst = tmp_path / f"{src.name}.avro"
    report = convert_file(
        src,
        dst,
        collector="route-views.test",
        source_path="a/b.mrt",
        source_sha256="ab" * 32,
        **REFERENCE_ENGINE,
    )
    with dst.open("rb") as f:
        reader = fastavro.reader(f)
        assert reader.metadata["avro.codec"] == "deflate"
        rows = [cast(dict[str, Any], r) for r in reader]
    assert report.rows == len(rows)
    assert [r["row_index"] for r in rows] == list(range(len(rows)))
    return report, rows


@functools.cache
def full(name: str) -> list[dict[str, Any]]:
    """Rows of a whole sample, converted once per test session."""
    return convert(SAMPLES / name, Path(tempfile.mkdtemp(prefix="cloudz-convert-test-")))[1]


def record_offsets(mrt: bytes) -> list[int]:
    """Start offsets of the records of a raw MRT byte string (plus the end), read independently."""
    offsets, p = [], 0
    while p + 12 <= len(mrt):
        offsets.append(p)
        p += 12 + struct.unpack_from(">I", mrt, p + 8)[0]
    assert p == len(mrt)
    return [*offsets, p]


def raw_sample(name: str) -> bytes:
    data = (SAMPLES / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def rows_before(rows: list[dict[str, Any]], record: int) -> list[dict[str, Any]]:
    return [r for r in rows if r["record_index"] < record]


# ---- differential: bgpdump -m ------------------------------------------------------------------


@needs_bgpdump
@pytest.mark.parametrize("name", [n for n in ALL_SAMPLES if n not in EXCEPTIONS])
def test_rows_equal_bgpdump_field_by_field(name: str, tmp_path: Path) -> None:
    report, rows = convert(SAMPLES / name, tmp_path)
    expected = bgpdump_rows(SAMPLES / name)
    assert report.status == "ok", report
    assert len(rows) == len(expected) > 0
    differences = 0
    for i, (row, line) in enumerate(zip(rows, expected, strict=True)):
        ours = row_as_bgpdump(row)
        for field, (mine, theirs) in known_differences(name, ours).items():
            assert (ours[field], line[field]) == (mine, theirs), f"{name} row {i} {field}"
            line = {**line, field: mine}
            differences += 1
        assert ours == line, f"{name} row {i}"
        assert row["collector"] == "route-views.test"
        assert row["source_path"] == "a/b.mrt"
        assert row["source_sha256"] == "ab" * 32
        if row["entry_type"] == "STATE":
            assert row["prefix"] is None and row["old_state"] is not None
        else:
            assert row["old_state"] is None and row["new_state"] is None
    assert differences == KNOWN_DIFFERENCE_COUNTS.get(name, 0)


def test_sample_counts_are_the_documented_ones(tmp_path: Path) -> None:
    """Numbers from the samples' README (bgpdump -m lines), independent of bgpdump being here."""
    expected = {
        "ripe-ris/updates.20160811.1600.gz": (41234, 22),
        "ripe-ris/updates.20071015.1505.gz": (10496, 0),
        "ripe-ris/updates.20020722.2238.gz": (3337, 93),
        "ripe-ris/bview.ipv4_unicast_add_path.gz": (62, 0),
    }
    for name, (n_rows, n_state) in expected.items():
        report, rows = convert(SAMPLES / name, tmp_path)
        assert (report.rows, report.parse_errors, report.damage) == (n_rows, 0, None)
        assert sum(r["entry_type"] == "STATE" for r in rows) == n_state


def _route_key(row: dict[str, Any]) -> tuple[Any, ...]:
    keys: tuple[str, ...] = ("entry_type", "peer_ip", "peer_asn", "prefix", "path_id", "as_path")
    keys += ("origin", "next_hop", "local_pref", "med", "aggregator", "old_state", "new_state")
    return (*(row[k] for k in keys), tuple(row["communities"]))


@needs_bgpdump
def test_bgp4mp_entry_rows_which_bgpdump_does_not_print(tmp_path: Path) -> None:
    """openbgpd_rib_table-mp: BGP4MP_ENTRY, one B row per record; bgpdump prints 0 lines.

    The same OpenBGPD RIB dumped as TABLE_DUMP (openbgpd_rib_table) has the same routes: that
    pins the field layout, including the peer being the *second* address.
    """
    assert bgpdump_rows(SAMPLES / "openbgpd_rib_table-mp") == []
    report, rows = convert(SAMPLES / "openbgpd_rib_table-mp", tmp_path)
    assert (report.rows, report.records, report.status) == (31, 31, "ok")
    assert {(r["mrt_type"], r["entry_type"]) for r in rows} == {("BGP4MP_ENTRY", "B")}
    assert all(r["originated_time"] is not None for r in rows)
    _, td1 = convert(SAMPLES / "openbgpd_rib_table", tmp_path)
    assert sorted(map(_route_key, rows)) == sorted(map(_route_key, td1))


@needs_bgpdump
@pytest.mark.parametrize(
    ("name", "addpath_twin", "extra_prefix"),
    [
        ("bird_bgp", "bird-mrtdump_bgp", "192.168.16.0/24"),
        ("bird6_bgp", "bird6-mrtdump_bgp", "fd02:17::/64"),
    ],
)
def test_bird_addpath_nlri_that_bgpdump_misreads(
    name: str, addpath_twin: str, extra_prefix: str, tmp_path: Path
) -> None:
    """BIRD wrote ADD-PATH NLRI (4-byte path id first) under the plain MESSAGE_AS4 subtype.

    bgpdump reads the path id as prefix bytes: 44/36 lines of junk such as "0.0.0.0/0".
    mrtparse notices and decodes the path ids: our rows are the routes of the same BIRD setup
    dumped with the proper ADD-PATH subtype (``addpath_twin``, which bgpdump reads right and
    the differential test checks) plus two announcements of one more prefix.
    """
    theirs = bgpdump_rows(SAMPLES / name)
    report, rows = convert(SAMPLES / name, tmp_path)
    assert (len(theirs), report.rows, report.status) == (
        {"bird_bgp": 36, "bird6_bgp": 44}[name],
        26,
        "ok",
    )
    bad = {"0.0.0.0/0", "::/0"}
    assert any(t.get("prefix") in bad for t in theirs)
    assert not any(r["prefix"] in bad for r in rows)
    # the STATE lines bgpdump gets right, and they match ours
    assert [row_as_bgpdump(r) for r in rows if r["entry_type"] == "STATE"] == [
        t for t in theirs if t["entry_type"] == "STATE"
    ]
    announced = [r for r in rows if r["entry_type"] == "A"]
    assert announced and all(r["path_id"] is not None for r in announced)
    assert all(r["mrt_type"] == "BGP4MP" for r in rows)  # the subtype says no ADD-PATH
    _, twin = convert(SAMPLES / addpath_twin, tmp_path)
    extra = collections.Counter(map(_route_key, rows)) - collections.Counter(map(_route_key, twin))
    assert (
        collections.Counter(map(_route_key, twin)) - collections.Counter(map(_route_key, rows))
        == collections.Counter()
    )
    assert sum(extra.values()) == 2 and {k[3] for k in extra} == {extra_prefix}


def test_rows_fill_every_field_with_the_right_type(tmp_path: Path) -> None:
    _, rows = convert(SAMPLES / "ripe-ris/updates.20160811.1600.gz", tmp_path)
    state = next(r for r in rows if r["entry_type"] == "STATE")
    assert state["as_path"] is None and state["communities"] == [] and state["path_id"] is None
    v6 = next(r for r in rows if r["entry_type"] == "A" and ":" in r["prefix"])
    assert ":" in v6["next_hop"]
    assert all(isinstance(r["communities"], list) for r in rows)
    assert any(r["large_communities"] for r in rows) or all(
        r["large_communities"] == [] for r in rows
    )


# ---- damaged input ------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("into", [0, 5, 11, 12, 20])
@pytest.mark.parametrize("record", [1, 7, 30])
def test_truncated_raw_file_keeps_whole_records(tmp_path: Path, record: int, into: int) -> None:
    mrt = raw_sample("quagga_bgp")
    offsets = record_offsets(mrt)
    full_rows = full("quagga_bgp")
    cut = offsets[record] + into
    report, rows = convert(write(tmp_path, "cut.mrt", mrt[:cut]), tmp_path)
    assert rows == rows_before(full_rows, record)
    assert report.records == record
    if into == 0:
        assert report.damage is None and report.status == "ok"
        return
    assert report.status == "partial"
    assert report.damage is not None
    assert report.damage.offset == offsets[record]
    assert report.damage.records_skipped == 1
    if into < 12:
        assert report.damage.reason == (
            f"truncated MRT header at offset {offsets[record]}: {into} of 12 bytes"
        )
    else:
        length = offsets[record + 1] - offsets[record] - 12
        assert f"record length {length} exceeds remaining bytes" in report.damage.reason
        assert f"{into - 12} of {length} body bytes" in report.damage.reason


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.97])
def test_truncated_gzip_stream(tmp_path: Path, fraction: float) -> None:
    gz = (SAMPLES / "ripe-ris/updates.20160811.1600.gz").read_bytes()
    offsets = record_offsets(raw_sample("ripe-ris/updates.20160811.1600.gz"))
    full_rows = full("ripe-ris/updates.20160811.1600.gz")
    report, rows = convert(write(tmp_path, "cut.gz", gz[: int(len(gz) * fraction)]), tmp_path)
    assert report.damage is not None and "gzip stream ends early" in report.damage.reason
    assert 0 < report.records < len(offsets) - 1
    assert report.damage.offset == offsets[report.records]
    assert rows == rows_before(full_rows, report.records)


def test_truncated_bz2_stream(tmp_path: Path) -> None:
    mrt = raw_sample("quagga_bgp") * 20  # big enough for bz2 to emit data before the end
    offsets = record_offsets(mrt)
    whole = write(tmp_path, "whole.bz2", bz2.compress(mrt))
    full_report, full_rows = convert(whole, tmp_path)
    assert full_report.damage is None and full_report.records == len(offsets) - 1
    data = whole.read_bytes()
    report, rows = convert(write(tmp_path, "cut.bz2", data[: len(data) - 40]), tmp_path)
    assert report.damage is not None and "bz2 stream ends early" in report.damage.reason
    assert report.damage.offset == offsets[report.records]
    assert rows == rows_before(full_rows, report.records)


def test_corrupt_gzip_data(tmp_path: Path) -> None:
    """Zeroed bytes inside a deflate stream: zlib may decode them into garbage without an error
    (only the CRC at the end would tell), so what stops the conversion is the framing. Rows
    before the corruption are intact and the report says the file is partial."""
    gz = bytearray((SAMPLES / "ripe-ris/updates.20071015.1505.gz").read_bytes())
    gz[len(gz) // 2 : len(gz) // 2 + 64] = bytes(64)
    report, rows = convert(write(tmp_path, "bad.gz", bytes(gz)), tmp_path)
    full_rows = full("ripe-ris/updates.20071015.1505.gz")
    assert report.damage is not None and report.status == "partial"
    assert 1000 < len(rows) < len(full_rows)
    assert rows[:1000] == full_rows[:1000]


@pytest.mark.parametrize(
    ("length", "reason"),
    [
        (
            0xFFFFFFFF,
            f"record length 4294967295 at offset {{off}} exceeds the {MAX_RECORD_LEN} byte",
        ),
        (MAX_RECORD_LEN, "record length 67108864 exceeds remaining bytes"),
    ],
)
def test_bad_record_length(tmp_path: Path, length: int, reason: str) -> None:
    mrt = bytearray(raw_sample("quagga_bgp"))
    offsets = record_offsets(bytes(mrt))
    struct.pack_into(">I", mrt, offsets[10] + 8, length)
    report, rows = convert(write(tmp_path, "len.mrt", bytes(mrt)), tmp_path)
    full_rows = full("quagga_bgp")
    assert rows == rows_before(full_rows, 10)
    assert report.damage is not None
    assert report.damage.offset == offsets[10]
    assert reason.format(off=offsets[10]) in report.damage.reason


def test_garbage_after_valid_records(tmp_path: Path) -> None:
    mrt = raw_sample("quagga_rib")
    report, rows = convert(write(tmp_path, "g.mrt", mrt + b"\xff" * 40), tmp_path)
    assert len(rows) == 9 and report.damage is not None
    assert report.damage.offset == len(mrt)
    assert "not an MRT record" in report.damage.reason


def test_undecodable_record_with_sane_length_is_skipped(tmp_path: Path) -> None:
    mrt = bytearray(raw_sample("quagga_rib"))
    offsets = record_offsets(bytes(mrt))
    # RIB_IPV4_UNICAST body: sequence(4) prefix length(1) prefix(3) entry count(2)
    struct.pack_into(">H", mrt, offsets[2] + 12 + 8, 0xFFFF)
    report, rows = convert(write(tmp_path, "bad.mrt", bytes(mrt)), tmp_path)
    full_rows = full("quagga_rib")
    assert report.parse_errors == 1 and report.damage is None and report.status == "partial"
    assert report.records == len(offsets) - 1
    assert [r["prefix"] for r in rows] == [r["prefix"] for r in full_rows if r["record_index"] != 2]
    assert [r["row_index"] for r in rows] == list(range(len(rows)))


def test_empty_file(tmp_path: Path) -> None:
    report, rows = convert(write(tmp_path, "empty", b""), tmp_path)
    assert rows == [] and report.records == 0
    assert report.damage == Damage(0, "empty file: no MRT records", 0)
    assert report.status == "partial"
    assert report.not_mrt == "not an MRT file: empty file: no MRT records"


def test_empty_gzip_stream(tmp_path: Path) -> None:
    report, rows = convert(write(tmp_path, "empty.gz", gzip.compress(b"")), tmp_path)
    assert rows == [] and report.damage is not None and report.damage.offset == 0
    assert report.not_mrt == "not an MRT file: empty gzip stream: it decompressed to 0 bytes"


def test_text_file(tmp_path: Path) -> None:
    report, rows = convert(write(tmp_path, "t.txt", b"this is not an MRT file\n" * 3), tmp_path)
    assert rows == [] and report.records == 0
    assert report.damage is not None and report.damage.offset == 0
    assert report.damage.records_skipped == 1
    assert report.not_mrt is not None and report.not_mrt.startswith("not an MRT file: ")


def test_compression_is_chosen_by_magic_not_name(tmp_path: Path) -> None:
    gz = (SAMPLES / "ripe-ris/bview.ipv4_unicast_add_path.gz").read_bytes()
    raw = raw_sample("ripe-ris/bview.ipv4_unicast_add_path.gz")
    for name, data in [("a.bz2", gz), ("b.gz", raw), ("c", bz2.compress(raw))]:
        report, _ = convert(write(tmp_path, name, data), tmp_path)
        assert (report.rows, report.damage) == (62, None), name


def test_multi_member_gzip(tmp_path: Path) -> None:
    mrt = raw_sample("quagga_bgp")
    offsets = record_offsets(mrt)
    split = offsets[20]
    data = gzip.compress(mrt[:split]) + gzip.compress(mrt[split:])
    report, _ = convert(write(tmp_path, "mm.gz", data), tmp_path)
    assert (report.rows, report.damage) == (38, None)


def test_output_is_replaced_atomically(tmp_path: Path) -> None:
    dst = tmp_path / "out.avro"
    dst.write_bytes(b"old")
    convert_file(SAMPLES / "quagga_rib", dst, **PER_FILE, **REFERENCE_ENGINE)
    assert dst.read_bytes()[:4] == b"Obj\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avro"]
    with pytest.raises(FileNotFoundError):
        convert_file(tmp_path / "missing", dst, **PER_FILE, **REFERENCE_ENGINE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avro"]


def test_report_round_trips_through_json() -> None:
    for report in [
        ConversionReport(rows=3, records=2, parse_errors=0),
        ConversionReport(rows=0, records=0, parse_errors=1, damage=Damage(12, "bz2 ...", 1)),
    ]:
        again = ConversionReport.from_dict(json.loads(json.dumps(report.to_dict())))
        assert again == report
    assert ConversionReport(1, 1, 0).status == "ok"
    assert ConversionReport(1, 1, 1).status == "partial"


_QUAGGA = raw_sample("quagga_bgp") if SAMPLES.is_dir() else b""


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0, max_value=len(_QUAGGA)), junk=st.binary(max_size=30))
def test_any_truncation_or_junk_never_crashes(tmp_path: Path, cut: int, junk: bytes) -> None:
    offsets = record_offsets(_QUAGGA)
    whole = sum(1 for o in offsets[1:] if o <= cut)
    report, rows = convert(write(tmp_path, "h.mrt", _QUAGGA[:cut] + junk), tmp_path)
    assert report.records >= whole
    assert {r["record_index"] for r in rows} <= set(range(report.records))
    if not junk:
        assert report.records == whole
        assert (report.damage is None) == (cut in offsets and cut > 0)
        if report.damage is not None and cut > 0:
            assert report.damage.offset == offsets[whole]


# ---- hand-built records: gaps closed in the decoder ----------------------------------------------


def _update_file(tmp_path: Path, attrs: bytes, nlri4: bytes, subtype: int = 4) -> Path:
    from cloudz.mrtgen.records import bgp4mp_peer_header, bgp_update, mrt_record

    head = bgp4mp_peer_header(64496, 64497, subtype != 1, "192.0.2.1", "192.0.2.2")
    return write(
        tmp_path, "u.mrt", mrt_record(1, 16, subtype, head + bgp_update(b"", attrs, nlri4))
    )


def _reference_rows(path: Path) -> tuple[int, list[dict[str, Any]]]:
    from cloudz.convert.reference import _Tally, iter_rows

    tally = _Tally()
    rows = list(iter_rows(path, tally, [], **PER_FILE))
    return tally.parse_errors, rows


def test_attribute_framed_by_its_length_not_by_what_mrtparse_read(tmp_path: Path) -> None:
    """RFC 4271 §4.3: an ORIGIN of length 2 ends after 2 bytes; the next attribute (AS_PATH)
    must still be read from the right place."""
    attrs = b"\x40\x01\x02\x00\x00" + b"\x40\x02\x06\x02\x01\x00\x00\xfb\xf0"
    attrs += b"\x40\x03\x04\xc0\x00\x02\x01"
    errors, rows = _reference_rows(_update_file(tmp_path, attrs, b"\x18\x0a\x00\x00"))
    assert errors == 0
    assert [(r["prefix"], r["origin"], r["as_path"]) for r in rows] == [
        ("10.0.0.0/24", "IGP", "64496")
    ]


def test_attribute_running_past_the_message_is_a_parse_error(tmp_path: Path) -> None:
    attrs = b"\x40\x01\x01\x00" + b"\xc0\x63\x40\x01\x02"  # unknown attribute claims 64 bytes
    errors, rows = _reference_rows(_update_file(tmp_path, attrs, b""))
    assert (errors, rows) == (1, [])


def test_otc_and_raw_attributes(tmp_path: Path) -> None:
    """RFC 9234 §5 OTC becomes only_to_customer; ORIGINATOR_ID (type 9) and an unknown type are
    kept raw with their flags (incl. extended length) in wire order; a malformed OTC too."""
    attrs = b"\x40\x01\x01\x02" + b"\x40\x02\x00" + b"\x40\x03\x04\xc0\x00\x02\x01"
    attrs += b"\x80\x09\x04\xc0\x00\x02\x09" + b"\xd0\xfe\x00\x02\xab\xcd"
    attrs += b"\xc0\x23\x04\x00\x01\x00\x00"
    _, rows = _reference_rows(_update_file(tmp_path, attrs, b"\x08\x0a"))
    (row,) = rows
    assert (row["only_to_customer"], row["as_path"], row["origin"]) == (65536, "", "INCOMPLETE")
    assert row["other_attributes"] == [
        {"type": 9, "flags": 0x80, "value": b"\xc0\x00\x02\x09"},
        {"type": 254, "flags": 0xD0, "value": b"\xab\xcd"},
    ]
    bad_otc = attrs.replace(b"\xc0\x23\x04\x00\x01\x00\x00", b"\xc0\x23\x02\x00\x01")
    _, rows = _reference_rows(_update_file(tmp_path, bad_otc, b"\x08\x0a"))
    assert rows[0]["only_to_customer"] is None
    assert rows[0]["other_attributes"][-1] == {"type": 35, "flags": 0xC0, "value": b"\x00\x01"}


def test_rib_generic_of_other_safis_gives_no_rows(tmp_path: Path) -> None:
    """RIB_GENERIC for L3VPN (SAFI 128) is not a route of this table; bgpdump prints none."""
    import random

    from cloudz.mrtgen.records import mrt_record
    from cloudz.mrtgen.rib import _peers, peer_index_table

    table = mrt_record(1, 13, 1, peer_index_table("192.0.2.1", "", _peers(random.Random(1), 2)))
    vpn = mrt_record(1, 13, 6, struct.pack(">IHB", 0, 1, 128) + b"\x00" + b"\x00\x00")
    errors, rows = _reference_rows(write(tmp_path, "g.mrt", table + vpn))
    assert (errors, rows) == (0, [])
    short = mrt_record(1, 13, 6, b"\x00\x01")
    errors, rows = _reference_rows(write(tmp_path, "g.mrt", table + short))
    assert (errors, rows) == (1, [])


def test_local_subtype_rows_carry_the_peer(tmp_path: Path) -> None:
    """BGP4MP_MESSAGE_AS4_LOCAL (RFC 6396 §4.4.4): bgpdump 1.6.2 prints the peer fields, and so
    do we (the converter used to swap in the local ones)."""
    from cloudz.mrtgen.records import bgp4mp_peer_header, bgp_update, mrt_record

    attrs = b"\x40\x01\x01\x00" + b"\x40\x02\x00" + b"\x40\x03\x04\xc0\x00\x02\x01"
    head = bgp4mp_peer_header(64496, 64497, True, "192.0.2.1", "192.0.2.2")
    path = write(
        tmp_path, "l.mrt", mrt_record(1, 16, 7, head + bgp_update(b"", attrs, b"\x08\x0a"))
    )
    _, rows = _reference_rows(path)
    assert [(r["mrt_type"], r["peer_ip"], r["peer_asn"]) for r in rows] == [
        ("BGP4MP_LOCAL", "192.0.2.1", 64496)
    ]


# ---- prefixes with host bits set (RFC 4271 §4.3) ----------------------------------------------


@needs_bgpdump
def test_host_bit_prefixes_equal_bgpdump_masked(tmp_path: Path) -> None:
    """A generated update file with 30 % of its (non-octet) prefixes written with a host bit:
    every row is the generator's expected row with the prefix masked, and bgpdump prints the
    same routes in the same order. Debian's bgpdump 1.6.2 prints those prefixes with the host
    bits as written ("11.13.0.0/13"), a newer one masked: :func:`host_bits_as_printed` asserts
    the two are the same network, and here exactly the written ones differ (1.6.2) or none does
    (a masking bgpdump)."""
    from bgpdump import host_bits_as_printed
    from test_mrtgen import known_difference

    from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file

    spec = UpdatesSpec(rows=2000, seed=5, host_bits_share=0.3)
    path = tmp_path / "updates.gz"
    written = write_file(path, generate_updates(spec))
    assert written.host_bit_prefixes > 100
    report, rows = convert(path, tmp_path)
    assert (report.status, report.masked_prefixes, report.repairs) == (
        "ok",
        written.host_bit_prefixes,
        {},
    )
    expected = [row for rec in generate_updates(spec, expected=True) for row in rec.expected or []]
    assert len(rows) == len(expected) == written.rows
    for row, want in zip(rows, expected, strict=True):
        assert {k: row[k] for k in want if k not in ("timestamp", "originated_time")} == {
            k: v for k, v in want.items() if k not in ("timestamp", "originated_time")
        }
    theirs = bgpdump_rows(path)
    assert len(theirs) == len(rows)
    printed_with_host_bits = 0
    for i, (row, line) in enumerate(zip(rows, theirs, strict=True)):
        ours = row_as_bgpdump(row)
        if ours.get("prefix") and host_bits_as_printed(ours, line):
            printed_with_host_bits += 1
            line = {**line, "prefix": ours["prefix"]}
        assert ours == known_difference(ours, line), f"row {i}"
    assert printed_with_host_bits in (0, written.host_bit_prefixes)
