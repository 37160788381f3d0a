"""Both engines on hand-built records, for the per-part tests of the compiled converter
(``cloudz/convert/fastmrt/<part>.c`` by ``test_<part>.py``): records built with
:mod:`cloudz.mrtgen`'s wire helpers, each converted by both engines; the rows must be equal,
and the records the C part should decode must not have been handed back to the reference
(else the test would compare the reference with itself)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest

from cloudz.convert import convert_file, fast_path
from cloudz.convert.framing import MrtRecord
from cloudz.mrtgen.attributes import as_path_payload, encode_attr
from cloudz.mrtgen.records import (
    bgp4mp_peer_header,
    bgp_update,
    ip_bytes,
    mrt_record,
    mrt_record_et,
    nlri,
)

TS = 1_700_000_000
ORIGIN_IGP = encode_attr(0x40, 1, b"\x00")
NEXT_HOP = encode_attr(0x40, 3, ip_bytes("192.0.2.1"))


def as_path(asns: tuple[int, ...], as_size: int = 4) -> bytes:
    return encode_attr(0x40, 2, as_path_payload([(2, asns)], as_size))


@dataclass
class Converted:
    fast: list[dict[str, Any]]
    reference: list[dict[str, Any]]
    handed_back: list[tuple[int, int]]
    """(type, subtype) of each record the C decoder handed to the reference"""


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        return [cast(dict[str, Any], r) for r in fastavro.reader(f)]


ConvertBoth = Callable[[list[bytes]], Converted]


@pytest.fixture
def convert_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConvertBoth:
    """Write the records as one raw MRT file and convert it with both engines."""
    if not fast_path.available():
        pytest.skip("cloudz.convert._fastmrt not built")
    handed_back: list[tuple[int, int]] = []
    original = fast_path._Run.reference

    def spy(self: fast_path._Run, record: MrtRecord) -> None:
        handed_back.append((record.type, record.subtype))
        original(self, record)

    monkeypatch.setattr(fast_path._Run, "reference", spy)

    def run(records: list[bytes]) -> Converted:
        src = tmp_path / "in.mrt"
        src.write_bytes(b"".join(records))
        rows = {}
        for engine in ("fast", "python"):
            dst = tmp_path / f"{engine}.avro"
            convert_file(
                src,
                dst,
                collector="route-views.test",
                source_path="a/b.mrt",
                source_sha256="ab" * 32,
                engine=engine,
            )
            rows[engine] = _rows(dst)
        return Converted(rows["fast"], rows["python"], list(handed_back))

    return run


def bgp4mp_update(
    attrs: bytes,
    announced: bytes = b"",
    withdrawn: bytes = b"",
    *,
    as4: bool = True,
    subtype: int | None = None,
    et: bool = False,
    peer_ip: str = "198.51.100.7",
) -> bytes:
    """One BGP4MP (or BGP4MP_ET) MESSAGE[_AS4] record holding an UPDATE."""
    local_ip = "198.51.100.1" if ":" not in peer_ip else "2001:db8::1"
    body = bgp4mp_peer_header(64500, 64501, as4, peer_ip, local_ip)
    body += bgp_update(withdrawn, attrs, announced)
    st = subtype if subtype is not None else (4 if as4 else 1)
    if et:
        return mrt_record_et(TS, 250_000, 17, st, body)
    return mrt_record(TS, 16, st, body)


def update_with(attr: bytes, *, as4: bool = True) -> bytes:
    """An UPDATE announcing 203.0.113.0/24 with ORIGIN, AS_PATH, NEXT_HOP and ``attr``."""
    attrs = ORIGIN_IGP + as_path((64500, 65551) if as4 else (64500, 3356), 4 if as4 else 2)
    return bgp4mp_update(attrs + NEXT_HOP + attr, nlri([("203.0.113.0", 24, None)]), as4=as4)


PEERS = [("192.0.2.10", 64510), ("2001:db8::10", 4_200_000_000)]


def peer_index_table(peers: list[tuple[str, int]] = PEERS) -> bytes:
    """TABLE_DUMP_V2 PEER_INDEX_TABLE (RFC 6396 4.3.1), 4-byte AS numbers."""
    body = bytearray(ip_bytes("192.0.2.250") + struct.pack(">H", 0))
    body += struct.pack(">H", len(peers))
    for ip, asn in peers:
        body.append((1 if ":" in ip else 0) | 2)
        body += ip_bytes("192.0.2.250") + ip_bytes(ip) + struct.pack(">I", asn)
    return mrt_record(TS, 13, 1, bytes(body))


def rib_entry(peer: int, attrs: bytes, path_id: int | None = None) -> bytes:
    head = struct.pack(">HI", peer, TS - 3600)
    if path_id is not None:
        head += struct.pack(">I", path_id)
    return head + struct.pack(">H", len(attrs)) + attrs


def rib_record(subtype: int, prefix: bytes, entries: list[bytes], seq: int = 0) -> bytes:
    """TABLE_DUMP_V2 RIB_* record: sequence, prefix (length + bytes), entries."""
    body = struct.pack(">I", seq) + prefix + struct.pack(">H", len(entries)) + b"".join(entries)
    return mrt_record(TS, 13, subtype, body)


def rib_with(attr: bytes) -> list[bytes]:
    """The peer table and one RIB_IPV4_UNICAST record of both peers with ``attr``."""
    attrs = ORIGIN_IGP + as_path((64510, 65551)) + NEXT_HOP + attr
    prefix = bytes([24]) + ip_bytes("203.0.113.0")[:3]
    return [peer_index_table(), rib_record(2, prefix, [rib_entry(0, attrs), rib_entry(1, attrs)])]


def assert_c_decoded(out: Converted, rows: int, *, handed_back: int = 0) -> None:
    """Both engines wrote the same ``rows`` rows; the C part kept all but ``handed_back``
    records (the peer index table, always read in Python, not counted)."""
    assert out.fast == out.reference
    assert len(out.fast) == rows
    assert len([t for t in out.handed_back if t != (13, 1)]) == handed_back
