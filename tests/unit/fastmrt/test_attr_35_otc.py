"""attr_35_otc.c: ONLY_TO_CUSTOMER (type code 35)."""

from __future__ import annotations

from cloudz.mrtgen.attributes import encode_attr
from fastmrt.both_engines import ConvertBoth, assert_c_decoded, update_with


def test_only_to_customer(convert_both: ConvertBoth) -> None:
    out = convert_both([update_with(encode_attr(0xC0, 35, (64500).to_bytes(4, "big")))])
    assert_c_decoded(out, 1)
    assert out.fast[0]["only_to_customer"] == 64500


def test_two_bytes_are_handed_back(convert_both: ConvertBoth) -> None:
    out = convert_both([update_with(encode_attr(0xC0, 35, b"\x01\x02"))])
    assert_c_decoded(out, len(out.reference), handed_back=1)
