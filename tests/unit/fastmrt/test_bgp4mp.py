"""bgp4mp.c: MRT types 16, BGP4MP, and 17, BGP4MP_ET: STATE_CHANGE[_AS4] and MESSAGE[_AS4]
[_LOCAL][_ADDPATH] records."""

from __future__ import annotations

import struct

import pytest

from cloudz.mrtgen.records import BGP_MARKER, bgp4mp_peer_header, mrt_record, mrt_record_et, nlri
from fastmrt.both_engines import (
    NEXT_HOP,
    ORIGIN_IGP,
    TS,
    ConvertBoth,
    as_path,
    assert_c_decoded,
    bgp4mp_update,
)

ANNOUNCED: list[tuple[str, int, int | None]] = [
    ("203.0.113.0", 24, None),
    ("198.51.100.0", 25, None),
]
WITHDRAWN: list[tuple[str, int, int | None]] = [("192.0.2.0", 24, None)]


@pytest.mark.parametrize(
    ("subtype", "as4", "et", "mrt_type"),
    [
        (1, False, False, "BGP4MP"),  # MESSAGE
        (4, True, False, "BGP4MP"),  # MESSAGE_AS4
        (4, True, True, "BGP4MP_ET"),
        (6, False, False, "BGP4MP_LOCAL"),  # MESSAGE_LOCAL
        (7, True, False, "BGP4MP_LOCAL"),  # MESSAGE_AS4_LOCAL
    ],
)
def test_update_messages(
    convert_both: ConvertBoth, subtype: int, as4: bool, et: bool, mrt_type: str
) -> None:
    attrs = ORIGIN_IGP + as_path((64500, 3356), 4 if as4 else 2) + NEXT_HOP
    record = bgp4mp_update(attrs, nlri(ANNOUNCED), nlri(WITHDRAWN), as4=as4, subtype=subtype, et=et)
    out = convert_both([record])
    assert_c_decoded(out, 3)
    assert [(r["mrt_type"], r["entry_type"], r["prefix"]) for r in out.fast] == [
        (mrt_type, "W", "192.0.2.0/24"),
        (mrt_type, "A", "203.0.113.0/24"),
        (mrt_type, "A", "198.51.100.0/25"),
    ]
    stamp = out.fast[0]["timestamp"]
    assert (stamp.timestamp(), stamp.microsecond) == (TS + (0.25 if et else 0), 250_000 * et)


@pytest.mark.parametrize("subtype", [8, 9, 10, 11])  # MESSAGE[_AS4][_LOCAL]_ADDPATH
def test_addpath_messages(convert_both: ConvertBoth, subtype: int) -> None:
    as4 = subtype in (9, 11)
    attrs = ORIGIN_IGP + as_path((64500,), 4 if as4 else 2) + NEXT_HOP
    announced = nlri([("203.0.113.0", 24, 1), ("203.0.113.0", 24, 2)])
    out = convert_both([bgp4mp_update(attrs, announced, as4=as4, subtype=subtype)])
    assert_c_decoded(out, 2)
    assert [r["path_id"] for r in out.fast] == [1, 2]


@pytest.mark.parametrize(("subtype", "as4"), [(0, False), (5, True)])  # STATE_CHANGE[_AS4]
def test_state_changes(convert_both: ConvertBoth, subtype: int, as4: bool) -> None:
    body = bgp4mp_peer_header(64500, 64501, as4, "2001:db8::7", "2001:db8::1")
    out = convert_both([mrt_record(TS, 16, subtype, body + struct.pack(">HH", 3, 6))])
    assert_c_decoded(out, 1)
    row = out.fast[0]
    assert (row["entry_type"], row["old_state"], row["new_state"]) == ("STATE", 3, 6)
    assert row["peer_ip"] == "2001:db8::7"


def test_a_keepalive_gives_no_rows(convert_both: ConvertBoth) -> None:
    body = bgp4mp_peer_header(64500, 64501, True, "192.0.2.7", "192.0.2.1")
    body += BGP_MARKER + struct.pack(">HB", 19, 4)
    out = convert_both([mrt_record_et(TS, 1, 17, 4, body)])
    assert_c_decoded(out, 0)


def test_a_bgp_length_not_the_record_is_handed_back(convert_both: ConvertBoth) -> None:
    record = bgp4mp_update(ORIGIN_IGP + as_path((64500,)) + NEXT_HOP, nlri(ANNOUNCED))
    out = convert_both([_with_message_length(record, +1)])
    assert_c_decoded(out, len(out.reference), handed_back=1)


def _with_message_length(record: bytes, delta: int) -> bytes:
    at = record.index(BGP_MARKER) + 16
    length = int.from_bytes(record[at : at + 2], "big") + delta
    return record[:at] + length.to_bytes(2, "big") + record[at + 2 :]
