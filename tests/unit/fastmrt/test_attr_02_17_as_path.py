"""attr_02_17_as_path.c: AS_PATH (type code 2) and AS4_PATH (17), merged for 2-byte records."""

from __future__ import annotations

import pytest

from cloudz.mrtgen.attributes import as_path_payload, encode_attr
from cloudz.mrtgen.records import ip_bytes, nlri
from fastmrt.both_engines import ORIGIN_IGP, ConvertBoth, assert_c_decoded, bgp4mp_update, rib_with

NH = encode_attr(0x40, 3, ip_bytes("192.0.2.1"))
ANNOUNCED = nlri([("203.0.113.0", 24, None)])


@pytest.mark.parametrize(
    ("segments", "text"),
    [
        ([(2, (64500, 4_200_000_000))], "64500 4200000000"),
        ([(2, (64500, 64501)), (1, (64502, 64503))], "64500 64501 {64502,64503}"),
        ([(3, (64500,)), (2, (64501,))], "(64500) 64501"),
        ([(4, (64500, 64502)), (2, (64501,))], "[64500,64502] 64501"),
        ([], ""),
    ],
)
def test_as_path_segments(
    convert_both: ConvertBoth, segments: list[tuple[int, tuple[int, ...]]], text: str
) -> None:
    attrs = ORIGIN_IGP + encode_attr(0x40, 2, as_path_payload(segments, 4)) + NH
    out = convert_both([bgp4mp_update(attrs, ANNOUNCED)])
    assert_c_decoded(out, 1)
    assert out.fast[0]["as_path"] == text


def test_as4_path_merged_into_a_two_byte_path(convert_both: ConvertBoth) -> None:
    path = encode_attr(0x40, 2, as_path_payload([(2, (64500, 23456, 23456))], 2))
    as4 = encode_attr(0xC0, 17, as_path_payload([(2, (4_200_000_001, 4_200_000_002))], 4))
    out = convert_both([bgp4mp_update(ORIGIN_IGP + path + NH + as4, ANNOUNCED, as4=False)])
    assert_c_decoded(out, 1)
    assert out.fast[0]["as_path"] == "64500 4200000001 4200000002"


def test_as_path_in_a_rib_entry(convert_both: ConvertBoth) -> None:
    out = convert_both(rib_with(b""))
    assert_c_decoded(out, 2)
    assert {r["as_path"] for r in out.fast} == {"64510 65551"}


def test_a_segment_past_the_attribute_is_handed_back(convert_both: ConvertBoth) -> None:
    bad = encode_attr(0x40, 2, bytes([2, 3]) + (64500).to_bytes(4, "big"))
    out = convert_both([bgp4mp_update(ORIGIN_IGP + bad + NH, ANNOUNCED)])
    assert_c_decoded(out, len(out.reference), handed_back=1)


def test_an_unknown_segment_type_is_handed_back(convert_both: ConvertBoth) -> None:
    bad = encode_attr(0x40, 2, bytes([9, 1]) + (64500).to_bytes(4, "big"))
    out = convert_both([bgp4mp_update(ORIGIN_IGP + bad + NH, ANNOUNCED)])
    assert_c_decoded(out, len(out.reference), handed_back=1)


@pytest.mark.parametrize(
    ("segments", "text", "path_asns", "origins"),
    [
        ([(2, (64500, 64501)), (1, ())], "64500 64501 {}", [64500, 64501], [64501]),
        (
            [(2, (64500,)), (1, (64502, 64503)), (1, ())],
            "64500 {64502,64503} {}",
            [64500, 64502, 64503],
            [64502, 64503],
        ),
        ([(1, ())], "{}", [], []),
    ],
)
def test_an_empty_as_set_is_no_origin(
    convert_both: ConvertBoth,
    segments: list[tuple[int, tuple[int, ...]]],
    text: str,
    path_asns: list[int],
    origins: list[int],
) -> None:
    """An empty AS_SET (``{}`` in bgpdump's text) holds no AS: ``origin_asns`` is that of the
    last segment with one, in both engines; the migration's SQL says the same
    (tests/stack/test_research_sql.py)."""
    attrs = ORIGIN_IGP + encode_attr(0x40, 2, as_path_payload(segments, 4)) + NH
    out = convert_both([bgp4mp_update(attrs, ANNOUNCED)])
    assert_c_decoded(out, 1)
    row = out.fast[0]
    assert (row["as_path"], row["as_path_asns"], row["origin_asns"]) == (text, path_asns, origins)
