"""TABLE_DUMP_V2 RIB files (RFC 6396 §4.3, ADD-PATH variants RFC 8050 §4): N peers x M prefixes.

One PEER_INDEX_TABLE, then one RIB record per prefix with an entry for most peers. Attribute
sets come from a seeded pool (real RIBs share paths between prefixes too), which keeps
generation fast enough for files of millions of rows.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from cloudz.mrtgen.attributes import (
    encode_attrs,
    random_asn,
    random_ipv4,
    random_ipv6,
    random_route,
    varied_route,
)
from cloudz.mrtgen.records import (
    TABLE_DUMP_V2,
    GeneratedRecord,
    Row,
    base_row,
    ip_bytes,
    ipv6_text,
    mrt_record,
    prefix_bytes,
)

PEER_INDEX_TABLE: Final = 1
RIB_SUBTYPES: Final = {  # (IPv6, multicast, ADD-PATH) -> subtype (RFC 6396 §4.3, RFC 8050 §4)
    (False, False, False): 2,
    (False, True, False): 3,
    (True, False, False): 4,
    (True, True, False): 5,
    (False, False, True): 8,
    (False, True, True): 9,
    (True, False, True): 10,
    (True, True, True): 11,
}
RIB_GENERIC: Final = 6
RIB_GENERIC_ADDPATH: Final = 12
_POOL: Final = 256
MAX_PEERS: Final = 30_000
"""Two ADD-PATH entries per peer must fit the 2-byte entry count (RFC 6396 §4.3.2)."""


@dataclass(frozen=True)
class RibSpec:
    """What to generate. ``share``s are probabilities per prefix record."""

    peers: int = 24
    prefixes: int = 1000
    seed: int = 1
    timestamp: int = 1_700_000_000
    ipv6_share: float = 0.3
    addpath_share: float = 0.1
    multicast_share: float = 0.02
    generic_share: float = 0.02
    """Records written as RIB_GENERIC(_ADDPATH) (RFC 6396 §4.3.3) instead of AFI/SAFI-specific."""
    peer_presence: float = 0.9
    """Probability that a peer has an entry for a prefix (every record has at least one)."""
    attributes: Literal["mixed", "varied"] = "mixed"
    """``mixed``: every attribute the converter decodes, mostly short (the tests' default);
    ``varied``: attribute-heavy routes (long paths with AS_SETs, many standard and large
    communities, aggregators), the worst case for the converter's speed."""
    pool: int = _POOL
    """Distinct attribute sets per address family that entries are drawn from."""
    locality: float = 0.0
    """Probability that a peer's entry repeats its attribute set and originated time from its
    previous entry. A real RIB's peers keep one path for long runs of prefixes and one time per
    session, so RouteViews' RIBs compress to ~2-3 bytes of bz2 per row; 0.95 comes close
    (``--locality``); 0 draws every entry anew (the tests' default: the worst case)."""


@dataclass(frozen=True)
class _Peer:
    bgp_id: str
    ip: str
    asn: int
    as4: bool


@dataclass(frozen=True)
class _PoolEntry:
    attrs: bytes
    columns: dict[str, Any]


def _peers(rng: random.Random, n: int) -> list[_Peer]:
    peers = []
    for _ in range(n):
        asn = random_asn(rng)
        ip = random_ipv6(rng) if rng.random() < 0.3 else random_ipv4(rng)
        # a 2-byte ASN may still be written in 4 bytes (RFC 6396 §4.3.1 peer type bit 1)
        peers.append(_Peer(random_ipv4(rng), ip, asn, asn > 0xFFFF or rng.random() < 0.3))
    return peers


def peer_index_table(collector_id: str, view: str, peers: list[_Peer]) -> bytes:
    """RFC 6396 §4.3.1: collector BGP ID, view name, peer count, then per peer: type (bit 0
    IPv6 address, bit 1 4-byte AS), BGP ID, address, AS."""
    name = view.encode()
    out = bytearray(ip_bytes(collector_id) + struct.pack(">H", len(name)) + name)
    out += struct.pack(">H", len(peers))
    for p in peers:
        v6 = ":" in p.ip
        out.append((1 if v6 else 0) | (2 if p.as4 else 0))
        out += ip_bytes(p.bgp_id) + ip_bytes(p.ip)
        out += struct.pack(">I" if p.as4 else ">H", p.asn)
    return bytes(out)


def _pool(rng: random.Random, v6: bool, spec: RibSpec) -> list[_PoolEntry]:
    pool = []
    vocabulary = [random_asn(rng) for _ in range(300)] if spec.attributes == "varied" else []
    for _ in range(spec.pool):
        route = varied_route(rng, vocabulary) if vocabulary else random_route(rng)
        if v6:
            hop = random_ipv6(rng)
            hops = ip_bytes(hop)
            if rng.random() < 0.3:
                hops += ip_bytes("fe80::" + format(rng.getrandbits(16), "x"))  # RFC 2545 §3
            # RFC 6396 §4.3.4: only next hop length and next hop(s) in a RIB entry
            attrs = route.attrs(as_size=4, mp_reach=bytes([len(hops)]) + hops)
        else:
            hop = random_ipv4(rng)
            attrs = route.attrs(as_size=4, next_hop=hop)
        pool.append(_PoolEntry(encode_attrs(attrs), route.columns(hop)))
    return pool


def _prefix(rng: random.Random, v6: bool) -> tuple[str, int]:
    if v6:
        length = rng.choice((32, 40, 44, 48, 48, 48, 56, 64, 128, 0, 29, 127))
        bits = 128
        value = (0x1 << 125) | rng.getrandbits(125)
    else:
        length = rng.choice((24, 24, 24, 23, 22, 20, 16, 8, 32, 0, 19, 25, 31))
        bits = 32
        value = rng.getrandbits(32)
    value &= ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)  # clear host bits
    return (ipv6_text(value) if v6 else str(ipaddress.IPv4Address(value))), length


def generate_rib(spec: RibSpec, *, expected: bool = False) -> Iterator[GeneratedRecord]:
    """The records of a RIB file, one at a time; ``expected`` adds the rows to each."""
    if not 1 <= spec.peers <= MAX_PEERS:
        raise ValueError(f"peers must be 1..{MAX_PEERS}")
    if spec.pool < 1:
        raise ValueError("pool must be at least 1")
    if not 0.0 <= spec.locality < 1.0:
        raise ValueError("locality must be in [0, 1)")
    rng = random.Random(spec.seed)
    peers = _peers(rng, spec.peers)
    pools = {False: _pool(rng, False, spec), True: _pool(rng, True, spec)}
    ts = spec.timestamp
    table = peer_index_table("192.0.2.1", "cloudz-mrtgen", peers)
    yield GeneratedRecord(
        mrt_record(ts, TABLE_DUMP_V2, PEER_INDEX_TABLE, table), 0, [] if expected else None, 0
    )
    ts_us = ts * 1_000_000
    previous: dict[tuple[bool, int], tuple[_PoolEntry, int]] = {}
    for seq in range(spec.prefixes):
        v6 = rng.random() < spec.ipv6_share
        multicast = rng.random() < spec.multicast_share
        addpath = rng.random() < spec.addpath_share
        network, length = _prefix(rng, v6)
        mrt_type = "TABLE_DUMP2_AP" if addpath else "TABLE_DUMP2"
        prefix = f"{network}/{length}"
        pool = pools[v6]
        entries = bytearray()
        rows: list[Row] | None = [] if expected else None
        count = 0
        chosen = [i for i in range(len(peers)) if rng.random() < spec.peer_presence]
        if not chosen:
            chosen = [rng.randrange(len(peers))]
        for index in chosen:
            peer = peers[index]
            for n in range(1 + (addpath and rng.random() < 0.3)):
                kept = previous.get((v6, index)) if spec.locality else None
                if kept is not None and rng.random() < spec.locality:
                    entry, originated = kept
                else:
                    entry = pool[rng.randrange(len(pool))]
                    originated = ts - rng.randrange(0, 10_000_000)
                    previous[v6, index] = (entry, originated)
                path_id = None
                entries += struct.pack(">HI", index, originated)
                if addpath:
                    path_id = rng.choice((n + 1, rng.getrandbits(32)))
                    entries += struct.pack(">I", path_id)
                entries += struct.pack(">H", len(entry.attrs)) + entry.attrs
                count += 1
                if rows is not None:
                    row = base_row(ts_us, mrt_type, "B", peer.ip, peer.asn)
                    row.update(entry.columns)
                    row.update(
                        prefix=prefix,
                        path_id=path_id,
                        originated_time=originated * 1_000_000,
                        ip_version=6 if v6 else 4,
                    )
                    rows.append(row)
        generic = rng.random() < spec.generic_share
        if generic:
            # RFC 6396 §4.3.3: AFI and SAFI, then the NLRI as in MP_REACH_NLRI
            body = struct.pack(">IHB", seq, 2 if v6 else 1, 2 if multicast else 1)
            subtype = RIB_GENERIC_ADDPATH if addpath else RIB_GENERIC
        else:
            body = struct.pack(">I", seq)
            subtype = RIB_SUBTYPES[(v6, multicast, addpath)]
        body += prefix_bytes(network, length) + struct.pack(">H", count) + entries
        # bgpdump 1.6.2 prints nothing for RIB_IPV4/IPV6_MULTICAST (and their ADD-PATH forms)
        # nor for RIB_GENERIC
        shown = 0 if multicast or generic else count
        yield GeneratedRecord(mrt_record(ts, TABLE_DUMP_V2, subtype, body), count, rows, shown)
