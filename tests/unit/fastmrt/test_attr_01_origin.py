"""attr_01_origin.c: ORIGIN (type code 1)."""

from __future__ import annotations

import pytest

from cloudz.mrtgen.attributes import encode_attr
from cloudz.mrtgen.records import nlri
from fastmrt.both_engines import ConvertBoth, assert_c_decoded, bgp4mp_update


@pytest.mark.parametrize(("value", "text"), [(0, "IGP"), (1, "EGP"), (2, "INCOMPLETE"), (7, "7")])
def test_origin_values(convert_both: ConvertBoth, value: int, text: str) -> None:
    attrs = encode_attr(0x40, 1, bytes([value])) + encode_attr(0x40, 3, bytes([192, 0, 2, 1]))
    out = convert_both([bgp4mp_update(attrs, nlri([("203.0.113.0", 24, None)]))])
    assert_c_decoded(out, 1)
    assert out.fast[0]["origin"] == text


def test_an_origin_of_two_bytes_is_handed_back(convert_both: ConvertBoth) -> None:
    out = convert_both([bgp4mp_update(encode_attr(0x40, 1, b"\x00\x01"))])
    assert_c_decoded(out, len(out.reference), handed_back=1)
