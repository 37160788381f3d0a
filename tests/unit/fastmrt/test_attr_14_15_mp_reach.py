"""attr_14_15_mp_reach.c: MP_REACH_NLRI (type code 14) and MP_UNREACH_NLRI (15), in UPDATEs
and (full or abbreviated) in TABLE_DUMP_V2 RIB entries."""

from __future__ import annotations

import struct

from cloudz.mrtgen.attributes import encode_attr
from cloudz.mrtgen.records import ip_bytes, nlri
from fastmrt.both_engines import (
    ORIGIN_IGP,
    ConvertBoth,
    as_path,
    assert_c_decoded,
    bgp4mp_update,
    peer_index_table,
    rib_entry,
    rib_record,
)

V6: list[tuple[str, int, int | None]] = [("2001:db8:1::", 48, None), ("2001:db8:2::", 48, None)]


def mp_reach(afi: int, safi: int, hop: bytes, announced: bytes) -> bytes:
    return encode_attr(0x80, 14, struct.pack(">HBB", afi, safi, len(hop)) + hop + b"\0" + announced)


def test_mp_reach_and_unreach_in_an_update(convert_both: ConvertBoth) -> None:
    reach = mp_reach(2, 1, ip_bytes("2001:db8::1") + ip_bytes("fe80::1"), nlri(V6))
    unreach = encode_attr(0x80, 15, struct.pack(">HB", 2, 1) + nlri([("2001:db8:3::", 48, None)]))
    out = convert_both([bgp4mp_update(ORIGIN_IGP + as_path((64500,)) + reach + unreach)])
    assert_c_decoded(out, 3)
    assert [(r["entry_type"], r["prefix"], r["next_hop"]) for r in out.fast] == [
        ("W", "2001:db8:3::/48", None),
        ("A", "2001:db8:1::/48", "2001:db8::1"),
        ("A", "2001:db8:2::/48", "2001:db8::1"),
    ]


def test_abbreviated_mp_reach_in_a_rib_entry(convert_both: ConvertBoth) -> None:
    hop = ip_bytes("2001:db8::1")
    attrs = ORIGIN_IGP + as_path((64510,)) + encode_attr(0x80, 14, bytes([16]) + hop)
    prefix = bytes([48]) + ip_bytes("2001:db8:1::")[:6]
    out = convert_both([peer_index_table(), rib_record(4, prefix, [rib_entry(1, attrs)])])
    assert_c_decoded(out, 1)
    assert out.fast[0]["next_hop"] == "2001:db8::1"


def test_full_mp_reach_in_a_rib_entry(convert_both: ConvertBoth) -> None:
    reach = mp_reach(2, 1, ip_bytes("2001:db8::1"), b"")
    prefix = bytes([48]) + ip_bytes("2001:db8:1::")[:6]
    attrs = ORIGIN_IGP + as_path((64510,)) + reach
    out = convert_both([peer_index_table(), rib_record(4, prefix, [rib_entry(0, attrs)])])
    assert_c_decoded(out, 1)
    assert out.fast[0]["next_hop"] == "2001:db8::1"


def test_an_unknown_safi_is_handed_back(convert_both: ConvertBoth) -> None:
    reach = mp_reach(2, 128, ip_bytes("2001:db8::1"), nlri(V6))
    out = convert_both([bgp4mp_update(ORIGIN_IGP + as_path((64500,)) + reach)])
    assert_c_decoded(out, len(out.reference), handed_back=1)


def test_mp_unreach_in_a_rib_entry_is_handed_back(convert_both: ConvertBoth) -> None:
    unreach = encode_attr(0x80, 15, struct.pack(">HB", 1, 1))
    prefix = bytes([24]) + ip_bytes("203.0.113.0")[:3]
    attrs = ORIGIN_IGP + as_path((64510,)) + unreach
    out = convert_both([peer_index_table(), rib_record(2, prefix, [rib_entry(0, attrs)])])
    assert_c_decoded(out, len(out.reference), handed_back=1)
