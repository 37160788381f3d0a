"""attr_06_07_18_aggregator.c: ATOMIC_AGGREGATE (type code 6), AGGREGATOR (7) and
AS4_AGGREGATOR (18)."""

from __future__ import annotations

from cloudz.mrtgen.attributes import encode_attr
from cloudz.mrtgen.records import ip_bytes
from fastmrt.both_engines import ConvertBoth, assert_c_decoded, update_with


def test_atomic_aggregate(convert_both: ConvertBoth) -> None:
    out = convert_both([update_with(encode_attr(0x40, 6, b""))])
    assert_c_decoded(out, 1)
    assert out.fast[0]["atomic_aggregate"] is True


def test_aggregator_four_and_two_byte(convert_both: ConvertBoth) -> None:
    four = encode_attr(0xC0, 7, (4_200_000_000).to_bytes(4, "big") + ip_bytes("192.0.2.9"))
    out = convert_both([update_with(four)])
    assert_c_decoded(out, 1)
    assert out.fast[0]["aggregator"] == "4200000000 192.0.2.9"
    two = encode_attr(0xC0, 7, (64500).to_bytes(2, "big") + ip_bytes("192.0.2.9"))
    out = convert_both([update_with(two, as4=False)])
    assert_c_decoded(out, 1)
    assert out.fast[0]["aggregator"] == "64500 192.0.2.9"


def test_as4_aggregator_replaces_as_trans(convert_both: ConvertBoth) -> None:
    two = encode_attr(0xC0, 7, (23456).to_bytes(2, "big") + ip_bytes("192.0.2.9"))
    as4 = encode_attr(0xC0, 18, (4_200_000_000).to_bytes(4, "big") + ip_bytes("192.0.2.8"))
    out = convert_both([update_with(two + as4, as4=False)])
    assert_c_decoded(out, 1)
    assert out.fast[0]["aggregator"] == "4200000000 192.0.2.8"


def test_an_aggregator_of_seven_bytes_is_handed_back(convert_both: ConvertBoth) -> None:
    out = convert_both([update_with(encode_attr(0xC0, 7, bytes(7)))])
    assert_c_decoded(out, len(out.reference), handed_back=1)
