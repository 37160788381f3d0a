"""The PEER_INDEX_TABLE reader agrees with mrtparse, the reference it replaced, on every
sample's peer index, on every truncation of one and on changed peer types; it differs on
purpose where mrtparse lost a table to its view name."""

from __future__ import annotations

import gzip
import struct

import pytest
from samples import SAMPLES_DIR

from cloudz.convert.decode import decode_record
from cloudz.convert.drops import RecordDecodeError
from cloudz.convert.peer_index import PEER_INDEX_TABLE, TABLE_DUMP_V2, Peer, decode_peer_index

RIBS = ["quagga_rib", "bird-mrtdump_rib", "bird6-mrtdump_rib", "openbgpd_rib_table-v2",
        "ripe-ris/bview.ipv4_unicast_add_path.gz"]  # fmt: skip


def peer_index_bodies(name: str) -> list[bytes]:
    data = (SAMPLES_DIR / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    bodies, p = [], 0
    while p + 12 <= len(data):
        _, t, st, length = struct.unpack_from(">IHHI", data, p)
        if (t, st) == (TABLE_DUMP_V2, PEER_INDEX_TABLE):
            bodies.append(data[p + 12 : p + 12 + length])
        p += 12 + length
    return bodies


def by_mrtparse(body: bytes) -> list[Peer] | None:
    """mrtparse's peers (as the row builder read them before), None where it fails."""
    raw = struct.pack(">IHHI", 0, TABLE_DUMP_V2, PEER_INDEX_TABLE, len(body)) + body
    try:
        d = decode_record(raw, TABLE_DUMP_V2, PEER_INDEX_TABLE)
    except RecordDecodeError:
        return None
    return [(p["peer_ip"], int(p["peer_as"])) for p in d["peer_entries"]]


def by_reader(body: bytes) -> list[Peer] | None:
    try:
        return decode_peer_index(body)
    except RecordDecodeError:
        return None


@pytest.mark.parametrize("name", RIBS)
def test_every_sample_peer_index_reads_as_mrtparse_reads_it(name: str) -> None:
    bodies = peer_index_bodies(name)
    assert bodies, f"{name} has no PEER_INDEX_TABLE"
    for body in bodies:
        peers = decode_peer_index(body)
        assert peers and peers == by_mrtparse(body)


@pytest.mark.parametrize("name", ["bird6-mrtdump_rib", "ripe-ris/bview.ipv4_unicast_add_path.gz"])
def test_truncations_and_peer_types_fail_where_mrtparse_fails(name: str) -> None:
    body = peer_index_bodies(name)[0]
    for cut in range(len(body) + 1):
        assert by_reader(body[:cut]) == by_mrtparse(body[:cut]), cut
    first_type = 8 + struct.unpack_from(">H", body, 4)[0]
    for kind in range(4):  # IPv4/IPv6 address, 2/4-byte AS: the rest of the entry shifts
        changed = body[:first_type] + bytes([kind]) + body[first_type + 1 :]
        assert by_reader(changed) == by_mrtparse(changed), kind
    assert by_reader(body + b"\x00" * 3) == by_mrtparse(body + b"\x00" * 3)  # bytes after


def test_a_view_name_that_is_not_utf8_keeps_the_table() -> None:
    """mrtparse decoded the name and dropped the table (and with it every RIB entry after it);
    the name holds no route, so the peers are read."""
    peer = struct.pack(">B4s4sH", 0, bytes(4), bytes([192, 0, 2, 1]), 64500)
    body = bytes(4) + struct.pack(">H", 3) + b"\xff\xfe\x80" + struct.pack(">H", 1) + peer
    assert by_mrtparse(body) is None
    assert decode_peer_index(body) == [("192.0.2.1", 64500)]
