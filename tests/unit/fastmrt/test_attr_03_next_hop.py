"""attr_03_next_hop.c: NEXT_HOP (type code 3)."""

from __future__ import annotations

import pytest

from cloudz.mrtgen.attributes import encode_attr
from cloudz.mrtgen.records import ip_bytes, nlri
from fastmrt.both_engines import ORIGIN_IGP, ConvertBoth, as_path, assert_c_decoded, bgp4mp_update


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (ip_bytes("192.0.2.1"), "192.0.2.1"),
        (ip_bytes("2001:db8::1"), "2001:db8::1"),
        (b"\x01\x02\x03", None),  # not an address's length: a null next hop (mrtparse)
    ],
)
def test_next_hop(convert_both: ConvertBoth, value: bytes, text: str | None) -> None:
    attrs = ORIGIN_IGP + as_path((64500,)) + encode_attr(0x40, 3, value)
    out = convert_both([bgp4mp_update(attrs, nlri([("203.0.113.0", 24, None)]))])
    assert_c_decoded(out, 1)
    assert out.fast[0]["next_hop"] == text
