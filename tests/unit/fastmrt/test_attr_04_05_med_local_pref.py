"""attr_04_05_med_local_pref.c: MULTI_EXIT_DISC (type code 4) and LOCAL_PREF (5)."""

from __future__ import annotations

import pytest

from cloudz.mrtgen.attributes import encode_attr
from fastmrt.both_engines import ConvertBoth, assert_c_decoded, rib_with, update_with


@pytest.mark.parametrize(("code", "column"), [(4, "med"), (5, "local_pref")])
def test_a_number(convert_both: ConvertBoth, code: int, column: str) -> None:
    attr = encode_attr(0x80 if code == 4 else 0x40, code, (4_000_000_000).to_bytes(4, "big"))
    out = convert_both([update_with(attr)])
    assert_c_decoded(out, 1)
    assert out.fast[0][column] == 4_000_000_000
    out = convert_both(rib_with(attr))
    assert_c_decoded(out, 2)


@pytest.mark.parametrize("code", [4, 5])
def test_three_bytes_are_handed_back(convert_both: ConvertBoth, code: int) -> None:
    out = convert_both([update_with(encode_attr(0x80, code, b"\x00\x00\x01"))])
    assert_c_decoded(out, len(out.reference), handed_back=1)
