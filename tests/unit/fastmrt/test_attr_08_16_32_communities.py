"""attr_08_16_32_communities.c: COMMUNITIES (type code 8), EXTENDED_COMMUNITIES (16) and
LARGE_COMMUNITY (32)."""

from __future__ import annotations

import struct

import pytest

from cloudz.mrtgen.attributes import encode_attr
from fastmrt.both_engines import ConvertBoth, assert_c_decoded, rib_with, update_with

COMMUNITIES = encode_attr(0xC0, 8, struct.pack(">HHHH", 64500, 1, 65535, 65281))
EXTENDED = encode_attr(0xC0, 16, bytes.fromhex("0002fc0000000064"))
LARGE = encode_attr(0xC0, 32, struct.pack(">III", 4_200_000_000, 1, 2))


def test_each_kind(convert_both: ConvertBoth) -> None:
    out = convert_both([update_with(COMMUNITIES + EXTENDED + LARGE)])
    assert_c_decoded(out, 1)
    row = out.fast[0]
    assert row["communities"] == ["64500:1", "65535:65281"]
    assert row["extended_communities"] == ["0002fc0000000064"]
    assert row["large_communities"] == ["4200000000:1:2"]
    out = convert_both(rib_with(COMMUNITIES + EXTENDED + LARGE))
    assert_c_decoded(out, 2)


@pytest.mark.parametrize(("code", "length"), [(8, 6), (16, 12), (32, 16)])
def test_a_value_not_whole_is_handed_back(
    convert_both: ConvertBoth, code: int, length: int
) -> None:
    out = convert_both([update_with(encode_attr(0xC0, code, bytes(range(length))))])
    assert_c_decoded(out, len(out.reference), handed_back=1)
