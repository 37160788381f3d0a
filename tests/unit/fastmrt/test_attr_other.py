"""attr_other.c: attributes kept raw in other_attributes (ORIGINATOR_ID 9, CLUSTER_LIST 10, AIGP
26, any unknown code); ATTR_SET (128) goes to the reference (attrs.c)."""

from __future__ import annotations

import pytest

from cloudz.mrtgen.attributes import encode_attr
from fastmrt.both_engines import ConvertBoth, assert_c_decoded, rib_with, update_with


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (9, bytes([192, 0, 2, 77])),
        (10, bytes(8)),
        (26, bytes([1, 0, 11]) + (1000).to_bytes(8, "big")),
        (250, b"anything"),
    ],
)
def test_kept_raw(convert_both: ConvertBoth, code: int, value: bytes) -> None:
    out = convert_both([update_with(encode_attr(0x80, code, value))])
    assert_c_decoded(out, 1)
    assert out.fast[0]["other_attributes"] == [{"type": code, "flags": 0x80, "value": value}]
    out = convert_both(rib_with(encode_attr(0x80, code, value)))
    assert_c_decoded(out, 2)


@pytest.mark.parametrize(
    ("code", "value"),
    [(9, bytes(5)), (10, bytes(6)), (26, bytes([1, 0, 2])), (128, (64500).to_bytes(4, "big"))],
)
def test_handed_back(convert_both: ConvertBoth, code: int, value: bytes) -> None:
    out = convert_both([update_with(encode_attr(0xC0, code, value))])
    assert_c_decoded(out, len(out.reference), handed_back=1)


def test_an_attribute_twice_is_handed_back(convert_both: ConvertBoth) -> None:
    twice = encode_attr(0x80, 250, b"a") + encode_attr(0x80, 250, b"b")
    out = convert_both([update_with(twice)])
    assert_c_decoded(out, len(out.reference), handed_back=1)
