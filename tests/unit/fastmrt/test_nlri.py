"""nlri.c: NLRI lists: host bits cleared, a prefix listed twice read again as ADD-PATH (as
mrtparse does), lengths past the maximum handed back."""

from __future__ import annotations

from cloudz.mrtgen.records import nlri
from fastmrt.both_engines import (
    NEXT_HOP,
    ORIGIN_IGP,
    ConvertBoth,
    as_path,
    assert_c_decoded,
    bgp4mp_update,
)

ATTRS = ORIGIN_IGP + as_path((64500,)) + NEXT_HOP


def test_host_bits_are_cleared(convert_both: ConvertBoth) -> None:
    out = convert_both([bgp4mp_update(ATTRS, bytes([13, 11, 13]))])  # 11.13.0.0/13
    assert_c_decoded(out, 1)
    assert out.fast[0]["prefix"] == "11.8.0.0/13"


def test_a_prefix_twice_is_read_as_addpath_when_that_reads_whole(convert_both: ConvertBoth) -> None:
    # 18 cb 00 71 18 cb 00 71: path id 0x18cb0071, then 203.0.113.0/24
    out = convert_both([bgp4mp_update(ATTRS, nlri([("203.0.113.0", 24, None)]) * 2)])
    assert_c_decoded(out, 1)
    assert (out.fast[0]["prefix"], out.fast[0]["path_id"]) == ("203.0.113.0/24", 0x18CB0071)
    # 10 0a 01 10 0a 01 does not read whole as ADD-PATH: the plain list, the duplicate kept
    out = convert_both([bgp4mp_update(ATTRS, nlri([("10.1.0.0", 16, None)]) * 2)])
    assert_c_decoded(out, 2)
    assert [r["prefix"] for r in out.fast] == ["10.1.0.0/16"] * 2


def test_a_length_over_32_is_handed_back(convert_both: ConvertBoth) -> None:
    out = convert_both([bgp4mp_update(ATTRS, bytes([33]) + bytes(5))])
    assert_c_decoded(out, len(out.reference), handed_back=1)
