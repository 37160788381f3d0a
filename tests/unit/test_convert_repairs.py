"""What the converter repairs inside a record, and what it drops, on both engines.

Each case is one hand-built record (through :mod:`cloudz.mrtgen`'s framing helpers) with the
rows ``bgpdump -m`` prints for it (Debian's 1.6.2, checked when it is on PATH) and the report's
``masked_prefixes`` / ``repairs`` / ``drops``. Host bits are cleared (RFC 4271 §4.3: trailing
bits are irrelevant), so bgpdump 1.6.2's unmasked text is compared as a network.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import struct
from pathlib import Path
from typing import Any

import fastavro
import pytest
from bgpdump import BGPDUMP, bgpdump_rows

from cloudz.convert import convert_file, fast_path
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

ENGINES = [
    "python",
    pytest.param(
        "fast",
        marks=pytest.mark.skipif(not fast_path.available(), reason="_fastmrt not built"),
    ),
]
TS = 1_700_000_000
ORIGIN = encode_attr(0x40, 1, b"\x00")
AS_PATH = encode_attr(0x40, 2, b"\x02\x01" + struct.pack(">I", 65001))
NEXT_HOP = encode_attr(0x40, 3, bytes([10, 0, 0, 1]))
ATTRS = ORIGIN + AS_PATH + NEXT_HOP
GOOD = bytes([24, 192, 168, 1])  # 192.168.1.0/24


def raw_prefix(network: str, length: int) -> bytes:
    """A prefix as written on the wire, host bits and all (mrtgen's helpers mask nothing)."""
    return bytes([length]) + ipaddress.ip_address(network).packed[: (length + 7) // 8]


def update(withdrawn: bytes, attrs: bytes, nlri: bytes) -> bytes:
    head = bgp4mp_peer_header(65001, 65000, True, "192.0.2.1", "192.0.2.2")
    return mrt_record(TS, BGP4MP, 4, head + bgp_update(withdrawn, attrs, nlri))


def mp_reach6(nlri: bytes) -> bytes:
    hop = ipaddress.ip_address("2001:db8::1").packed
    return encode_attr(0x80, 14, struct.pack(">HBB", 2, 1, 16) + hop + b"\x00" + nlri)


def mp_unreach6(nlri: bytes) -> bytes:
    return encode_attr(0x80, 15, struct.pack(">HB", 2, 1) + nlri)


PEERS = mrt_record(
    TS,
    TABLE_DUMP_V2,
    1,
    peer_index_table("192.0.2.9", "v", [_Peer("192.0.2.1", "192.0.2.1", 65001, True)]),
)


_NAMED_V = peer_index_table("192.0.2.9", "v", [_Peer("192.0.2.1", "192.0.2.1", 65001, True)])
PEERS_NAME_NOT_UTF8 = mrt_record(
    TS, TABLE_DUMP_V2, 1, _NAMED_V[:4] + b"\x00\x03\xff\xfe\x80" + _NAMED_V[7:]
)


def rib_v2(subtype: int, prefix: bytes, attrs: bytes, generic: bool = False) -> bytes:
    entry = struct.pack(">HIH", 0, TS - 1000, len(attrs)) + attrs
    head = struct.pack(">IHB", 1, 1, 1) if generic else struct.pack(">I", 1)
    return PEERS + mrt_record(TS, TABLE_DUMP_V2, subtype, head + prefix + b"\x00\x01" + entry)


def rib_v1(network: str, length: int, attrs: bytes) -> bytes:
    body = struct.pack(">HH", 0, 1) + ipaddress.ip_address(network).packed
    body += struct.pack(">BBI", length, 1, TS - 1000) + ipaddress.ip_address("192.0.2.1").packed
    body += struct.pack(">HH", 65001, len(attrs)) + attrs
    return mrt_record(TS, 12, 1, body)


AS_PATH2 = encode_attr(0x40, 2, b"\x02\x01\xfd\xe9")  # 2-byte AS 65001 (TABLE_DUMP)
COMMUNITY_1 = encode_attr(0xC0, 8, struct.pack(">HH", 65001, 1))
COMMUNITY_2 = encode_attr(0xC0, 8, struct.pack(">HH", 65001, 2))


def rib_v2_entries(peer_indexes: list[int]) -> bytes:
    """A PEER_INDEX_TABLE of one peer, then one RIB_IPV4_UNICAST record of 192.168.1.0/24 with
    an entry per peer index (index 0 is the table's peer, any other points past it)."""
    entries = b"".join(struct.pack(">HIH", i, TS - 1000, len(ATTRS)) + ATTRS for i in peer_indexes)
    body = struct.pack(">I", 1) + GOOD + struct.pack(">H", len(peer_indexes)) + entries
    return PEERS + mrt_record(TS, TABLE_DUMP_V2, 2, body)


def update_et(micros: int, nlri: bytes = GOOD) -> bytes:
    head = bgp4mp_peer_header(65001, 65000, True, "192.0.2.1", "192.0.2.2")
    return mrt_record_et(TS, micros, 17, 4, head + bgp_update(b"", ATTRS, nlri))


# name: (records, rows as (entry type, prefix, AS path), masked_prefixes, repairs, drops)
CASES: dict[
    str, tuple[bytes, list[tuple[str, str, str | None]], int, dict[str, int], dict[str, int]]
] = {
    "announced NLRI with host bits": (
        update(b"", ATTRS, raw_prefix("11.13.0.0", 13) + GOOD),
        [("A", "11.8.0.0/13", "65001"), ("A", "192.168.1.0/24", "65001")],
        1,
        {},
        {},
    ),
    "withdrawn route with host bits": (
        update(raw_prefix("10.1.2.3", 12), b"", b""),
        [("W", "10.0.0.0/12", None)],
        1,
        {},
        {},
    ),
    "two prefixes equal once masked": (
        update(b"", ATTRS, raw_prefix("11.13.0.0", 13) + raw_prefix("11.8.0.0", 13)),
        [("A", "11.8.0.0/13", "65001"), ("A", "11.8.0.0/13", "65001")],
        1,
        {},
        {},
    ),
    "MP_REACH IPv6 with host bits": (
        update(b"", ORIGIN + AS_PATH + mp_reach6(raw_prefix("2001:db8:ff00::", 36)), b""),
        [("A", "2001:db8:f000::/36", "65001")],
        1,
        {},
        {},
    ),
    "MP_UNREACH IPv6 with host bits": (
        update(b"", mp_unreach6(raw_prefix("2001:db8:ff00::", 36)), b""),
        [("W", "2001:db8:f000::/36", None)],
        1,
        {},
        {},
    ),
    "TABLE_DUMP_V2 IPv4 RIB entry with host bits": (
        rib_v2(2, raw_prefix("11.13.0.0", 13), ATTRS),
        [("B", "11.8.0.0/13", "65001")],
        1,
        {},
        {},
    ),
    "TABLE_DUMP_V2 IPv6 RIB entry with host bits": (
        rib_v2(
            4,
            raw_prefix("2001:db8:ff00::", 36),
            ORIGIN + AS_PATH + encode_attr(0x80, 14, b"\x10" + bytes(15) + b"\x01"),
        ),
        [("B", "2001:db8:f000::/36", "65001")],
        1,
        {},
        {},
    ),
    "TABLE_DUMP_V2 RIB_GENERIC with host bits": (
        rib_v2(6, raw_prefix("11.13.0.0", 13), ATTRS, generic=True),
        [("B", "11.8.0.0/13", "65001")],
        1,
        {},
        {},
    ),
    "TABLE_DUMP (v1) with host bits past the prefix bytes": (
        rib_v1("10.1.2.3", 8, ORIGIN + AS_PATH2 + NEXT_HOP),
        [("B", "10.0.0.0/8", "65001")],
        1,
        {},
        {},
    ),
    "truncated last announced prefix": (
        update(b"", ATTRS, GOOD + bytes([24, 10, 1])),
        [("A", "192.168.1.0/24", "65001")],
        0,
        {"nlri_truncated": 1},
        {},
    ),
    "truncated last withdrawn route": (
        update(GOOD + bytes([24, 10, 1]), b"", b""),
        [("W", "192.168.1.0/24", None)],
        0,
        {"nlri_truncated": 1},
        {},
    ),
    "prefix length over 32": (
        update(b"", ATTRS, GOOD + bytes([33, 1, 2, 3, 4, 5])),
        [("A", "192.168.1.0/24", "65001")],
        0,
        {"prefix_length_invalid": 1},
        {},
    ),
    "AS_PATH segment longer than the attribute": (
        update(
            b"",
            ORIGIN + encode_attr(0x40, 2, b"\x02\x05" + struct.pack(">I", 65001)) + NEXT_HOP,
            GOOD,
        ),
        [("A", "192.168.1.0/24", None)],
        0,
        {"attribute_undecodable": 1},
        {},
    ),
    "MP_REACH of an unknown AFI": (
        update(b"", ATTRS + encode_attr(0x80, 14, struct.pack(">HBB", 99, 1, 4) + bytes(5)), GOOD),
        [("A", "192.168.1.0/24", "65001")],
        0,
        {"attribute_undecodable": 1},
        {},
    ),
    "attribute running past the message": (
        update(b"", ATTRS + b"\xc0\x08\x20\x00\x01", GOOD),
        [],
        0,
        {},
        {"attribute_overrun": 1},
    ),
    "PEER_INDEX_TABLE whose view name is not UTF-8": (  # mrtparse dropped the table
        PEERS_NAME_NOT_UTF8 + rib_v2(2, GOOD, ATTRS)[len(PEERS) :],
        [("B", "192.168.1.0/24", "65001")],
        0,
        {},
        {},
    ),
    "RIB entry before any PEER_INDEX_TABLE": (
        rib_v2(2, GOOD, ATTRS)[len(PEERS) :],
        [],
        0,
        {},
        {"rib_entry_without_peer": 1},
    ),
    "BGP4MP_SNAPSHOT": (
        mrt_record(TS, BGP4MP, 3, b"\x00\x01" + b"x" * 10),
        [],
        0,
        {},
        {"unsupported_subtype": 1},
    ),
    "unreadable record": (
        mrt_record(TS, BGP4MP, 4, b"\x00\x01\x02"),
        [],
        0,
        {},
        {"malformed_record": 1},
    ),
    # issue 20, item 7: kept what is valid, reported what is not (before: the whole record
    # dropped as rib_entry_without_peer; the second COMMUNITIES ignored, "ok"; the time moved)
    "RIB entry pointing past the peer table, between valid ones": (
        rib_v2_entries([0, 7, 0]),
        [("B", "192.168.1.0/24", "65001"), ("B", "192.168.1.0/24", "65001")],
        0,
        {"rib_entry_peer_missing": 1},
        {},
    ),
    "every RIB entry pointing past the peer table": (
        rib_v2_entries([3, 4]),
        [],
        0,
        {"rib_entry_peer_missing": 2},
        {},
    ),
    "a second COMMUNITIES attribute": (
        update(b"", ATTRS + COMMUNITY_1 + COMMUNITY_2, GOOD),
        [("A", "192.168.1.0/24", "65001")],
        0,
        {"attribute_repeated": 1},
        {},
    ),
    "a second AS_PATH attribute": (
        update(b"", ATTRS + encode_attr(0x40, 2, b"\x02\x01" + struct.pack(">I", 65002)), GOOD),
        [("A", "192.168.1.0/24", "65001")],
        0,
        {"attribute_repeated": 1},
        {},
    ),
    "BGP4MP_ET microseconds over 999,999": (
        update_et(1_500_000),
        [("A", "192.168.1.0/24", "65001")],
        0,
        {"microseconds_invalid": 1},
        {},
    ),
}
# bgpdump's view where it differs from ours, and why (the rows above are ours)
BGPDUMP_DIFFERS = {
    "prefix length over 32": "prints the bytes after the bad length as 1.2.3.4/33",
    "AS_PATH segment longer than the attribute": 'prints the AS path as "! Error !"',
    "attribute running past the message": "prints the route with the attributes before it",
    "RIB entry before any PEER_INDEX_TABLE": "prints nothing",
    "TABLE_DUMP_V2 RIB_GENERIC with host bits": "prints nothing for RIB_GENERIC",
    "BGP4MP_SNAPSHOT": "prints nothing",
    "unreadable record": "prints nothing",
    "RIB entry pointing past the peer table, between valid ones": "aborts (assertion failed)",
    "every RIB entry pointing past the peer table": "aborts (assertion failed)",
    "a second COMMUNITIES attribute": "aborts (assertion `! attr->community' failed)",
    "a second AS_PATH attribute": "aborts (assertion `! attr->aspath' failed)",
    "TABLE_DUMP (v1) with host bits past the prefix bytes": "prints 10.1.2.3/8 as stored",
}


def _convert(path: Path, engine: str) -> tuple[Any, list[tuple[str, str, str | None]]]:
    dst = path.with_suffix(f".{engine}.avro")
    report = convert_file(
        path,
        dst,
        collector="c",
        source_path="p",
        source_sha256="s",
        engine=engine,  # type: ignore[arg-type]
    )
    with dst.open("rb") as f:
        rows = [(r["entry_type"], r["prefix"], r["as_path"]) for r in fastavro.reader(f)]  # type: ignore[call-overload, index]
    return report, rows


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(CASES))
def test_repairs_and_drops(name: str, engine: str, tmp_path: Path) -> None:
    data, rows, masked, repairs, drops = CASES[name]
    path = tmp_path / "case.mrt"
    path.write_bytes(data)
    report, got = _convert(path, engine)
    assert got == rows
    assert (report.masked_prefixes, report.repairs, report.drops) == (masked, repairs, drops)
    assert report.parse_errors == sum(drops.values())
    assert report.status == ("partial" if repairs or drops else "ok")
    assert report.to_dict()["masked_prefixes"] == masked


@pytest.mark.skipif(BGPDUMP is None, reason="bgpdump not on PATH")
@pytest.mark.parametrize("name", [n for n in CASES if n not in BGPDUMP_DIFFERS])
def test_bgpdump_prints_the_same_routes(name: str, tmp_path: Path) -> None:
    """bgpdump 1.6.2 keeps these routes too; it prints host bits as written (a newer one masks
    them), so prefixes compare as networks."""
    data, rows, *_ = CASES[name]
    path = tmp_path / "case.mrt"
    path.write_bytes(data)
    theirs = [
        (
            line["entry_type"],
            str(ipaddress.ip_network(line["prefix"], strict=False)),
            line.get("as_path"),
        )
        for line in bgpdump_rows(path)
    ]
    assert theirs == [(t, p, a if t != "W" else None) for t, p, a in rows]


def test_host_bits_are_not_misread_as_add_path(tmp_path: Path) -> None:
    """11.13.0.0/13, 0.0.0.0/0, 10.0.0.0/8 also reads as one ADD-PATH prefix (path id
    0x0d0b0d00, 10.0.0.0/8); rejecting host bits first (mrtparse) took that reading. A
    valid plain reading wins (RFC 4271 §4.3: host bits do not make a prefix invalid)."""
    nlri = raw_prefix("11.13.0.0", 13) + bytes([0]) + bytes([8, 10])
    path = tmp_path / "u.mrt"
    path.write_bytes(update(b"", ATTRS, nlri))
    for engine in ("python", "fast") if fast_path.available() else ("python",):
        report, got = _convert(path, engine)
        assert [p for _, p, _ in got] == ["11.8.0.0/13", "0.0.0.0/0", "10.0.0.0/8"]
        assert report.masked_prefixes == 1


def _rows(path: Path, engine: str) -> tuple[Any, list[dict[str, Any]]]:
    dst = path.with_suffix(f".{engine}.avro")
    report = convert_file(
        path,
        dst,
        collector="c",
        source_path="p",
        source_sha256="s",
        engine=engine,  # type: ignore[arg-type]
    )
    with dst.open("rb") as f:
        return report, list(fastavro.reader(f))  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_second_communities_attribute_is_kept_raw_and_reported(
    engine: str, tmp_path: Path
) -> None:
    """RFC 7606 §3 (g): of an attribute that appears twice, the first counts. The second is
    kept raw in other_attributes (nothing lost) and the file is partial, not "ok"."""
    path = tmp_path / "u.mrt"
    path.write_bytes(update(b"", ATTRS + COMMUNITY_1 + COMMUNITY_2, GOOD))
    report, rows = _rows(path, engine)
    assert [r["communities"] for r in rows] == [["65001:1"]]
    assert rows[0]["other_attributes"] == [
        {"type": 8, "flags": 0xC0, "value": struct.pack(">HH", 65001, 2)}
    ]
    assert report.repairs == {"attribute_repeated": 1} and report.status == "partial"


@pytest.mark.parametrize("engine", ENGINES)
def test_bgp4mp_et_microseconds_over_a_second_keep_the_records_second(
    engine: str, tmp_path: Path
) -> None:
    """Microseconds over 999,999 are no fraction of a second: the row keeps the header's
    second (as bgpdump prints it) and the report says so, instead of a time moved by up to
    4,294 s. A valid field is kept to the microsecond."""
    path = tmp_path / "u.mrt"
    path.write_bytes(update_et(4_294_967_295) + update_et(999_999) + update_et(1_000_000))
    report, rows = _rows(path, engine)
    assert [r["timestamp"] for r in rows] == [
        dt.datetime.fromtimestamp(t, dt.UTC) for t in (TS, TS + 0.999999, TS)
    ]
    assert report.repairs == {"microseconds_invalid": 2} and report.status == "partial"


@pytest.mark.parametrize("engine", ENGINES)
def test_valid_rib_entries_are_kept_beside_one_pointing_past_the_peer_table(
    engine: str, tmp_path: Path
) -> None:
    path = tmp_path / "rib.mrt"
    path.write_bytes(rib_v2_entries([0, 1, 0, 65535]))
    report, rows = _rows(path, engine)
    assert [(r["peer_ip"], r["prefix"], r["row_index"]) for r in rows] == [
        ("192.0.2.1", "192.168.1.0/24", 0),
        ("192.0.2.1", "192.168.1.0/24", 1),
    ]
    assert report.repairs == {"rib_entry_peer_missing": 2}
    assert (report.parse_errors, report.drops, report.status) == (0, {}, "partial")
