"""table_dump.c: MRT type 12, TABLE_DUMP (v1) RIB entries, IPv4 and IPv6 (the subtype)."""

from __future__ import annotations

import struct

import pytest

from cloudz.mrtgen.records import ip_bytes, mrt_record
from fastmrt.both_engines import NEXT_HOP, ORIGIN_IGP, TS, ConvertBoth, as_path, assert_c_decoded

ATTRS = ORIGIN_IGP + as_path((64500, 3356), 2) + NEXT_HOP


def td1(
    afi: int, prefix: str, plen: int, peer: str, *, subtype: int = 0, attr_len: int = -1
) -> bytes:
    """view, sequence, prefix, length, status, originated, peer address, peer AS, attributes."""
    body = struct.pack(">HH", 0, 1) + ip_bytes(prefix) + bytes([plen, 1])
    length = attr_len if attr_len >= 0 else len(ATTRS)
    body += struct.pack(">I", TS - 60) + ip_bytes(peer) + struct.pack(">HH", 64500, length)
    return mrt_record(TS, 12, subtype or afi, body + ATTRS)


@pytest.mark.parametrize(
    ("afi", "prefix", "plen", "peer", "text"),
    [
        (1, "203.0.113.0", 24, "192.0.2.7", "203.0.113.0/24"),
        (1, "203.0.113.77", 24, "192.0.2.7", "203.0.113.0/24"),  # host bits cleared
        (2, "2001:db8::", 32, "2001:db8::7", "2001:db8::/32"),
    ],
)
def test_td1(
    convert_both: ConvertBoth, afi: int, prefix: str, plen: int, peer: str, text: str
) -> None:
    out = convert_both([td1(afi, prefix, plen, peer)])
    assert_c_decoded(out, 1)
    row = out.fast[0]
    assert (row["mrt_type"], row["prefix"], row["peer_ip"]) == ("TABLE_DUMP", text, peer)
    assert row["as_path"] == "64500 3356"


def test_an_unknown_subtype_is_handed_back(convert_both: ConvertBoth) -> None:
    out = convert_both([td1(1, "203.0.113.0", 24, "192.0.2.7", subtype=3)])
    assert_c_decoded(out, len(out.reference), handed_back=1)


def test_an_attribute_length_short_of_the_record_is_handed_back(convert_both: ConvertBoth) -> None:
    out = convert_both([td1(1, "203.0.113.0", 24, "192.0.2.7", attr_len=len(ATTRS) - 1)])
    assert_c_decoded(out, len(out.reference), handed_back=1)
