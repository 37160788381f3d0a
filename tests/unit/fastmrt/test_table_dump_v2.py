"""table_dump_v2.c: MRT type 13, TABLE_DUMP_V2 RIB records of each subtype (the peer index
table is read in Python: cloudz/convert/peer_index.py, tests/unit/test_peer_index.py)."""

from __future__ import annotations

import struct

import pytest

from cloudz.mrtgen.records import ip_bytes, mrt_record
from fastmrt.both_engines import (
    NEXT_HOP,
    ORIGIN_IGP,
    TS,
    ConvertBoth,
    as_path,
    assert_c_decoded,
    peer_index_table,
    rib_entry,
    rib_record,
)

ATTRS = ORIGIN_IGP + as_path((64510, 65551)) + NEXT_HOP
V4 = bytes([24]) + ip_bytes("203.0.113.0")[:3]
V6 = bytes([32]) + ip_bytes("2001:db8::")[:4]


@pytest.mark.parametrize(
    ("subtype", "prefix", "addpath", "mrt_type", "text"),
    [
        (2, V4, False, "TABLE_DUMP2", "203.0.113.0/24"),  # RIB_IPV4_UNICAST
        (3, V4, False, "TABLE_DUMP2", "203.0.113.0/24"),  # RIB_IPV4_MULTICAST
        (4, V6, False, "TABLE_DUMP2", "2001:db8::/32"),  # RIB_IPV6_UNICAST
        (5, V6, False, "TABLE_DUMP2", "2001:db8::/32"),  # RIB_IPV6_MULTICAST
        (8, V4, True, "TABLE_DUMP2_AP", "203.0.113.0/24"),  # RIB_IPV4_UNICAST_ADDPATH
        (10, V6, True, "TABLE_DUMP2_AP", "2001:db8::/32"),  # RIB_IPV6_UNICAST_ADDPATH
    ],
)
def test_rib_subtypes(
    convert_both: ConvertBoth, subtype: int, prefix: bytes, addpath: bool, mrt_type: str, text: str
) -> None:
    entries = [rib_entry(i, ATTRS, 7 + i if addpath else None) for i in (0, 1)]
    out = convert_both([peer_index_table(), rib_record(subtype, prefix, entries)])
    assert_c_decoded(out, 2)
    assert [(r["mrt_type"], r["prefix"], r["path_id"]) for r in out.fast] == [
        (mrt_type, text, 7 if addpath else None),
        (mrt_type, text, 8 if addpath else None),
    ]
    assert [r["peer_asn"] for r in out.fast] == [64510, 4_200_000_000]


def test_rib_generic(convert_both: ConvertBoth) -> None:
    """Subtype 6, RIB_GENERIC: AFI and SAFI before the prefix."""
    body = struct.pack(">IHB", 0, 1, 1) + V4 + struct.pack(">H", 1) + rib_entry(0, ATTRS)
    out = convert_both([peer_index_table(), mrt_record(TS, 13, 6, body)])
    assert_c_decoded(out, 1)


def test_a_rib_record_before_the_peer_table_is_handed_back(convert_both: ConvertBoth) -> None:
    out = convert_both([rib_record(2, V4, [rib_entry(0, ATTRS)])])
    assert_c_decoded(out, len(out.reference), handed_back=1)


def test_a_peer_index_past_the_table_is_handed_back(convert_both: ConvertBoth) -> None:
    out = convert_both([peer_index_table(), rib_record(2, V4, [rib_entry(5, ATTRS)])])
    assert_c_decoded(out, len(out.reference), handed_back=1)


def test_trailing_bytes_are_handed_back(convert_both: ConvertBoth) -> None:
    record = rib_record(2, V4, [rib_entry(0, ATTRS)])
    record = record[:8] + struct.pack(">I", len(record) - 12 + 2) + record[12:] + b"\1\2"
    out = convert_both([peer_index_table(), record])
    assert_c_decoded(out, len(out.reference), handed_back=1)
