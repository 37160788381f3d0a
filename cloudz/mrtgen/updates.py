"""BGP4MP / BGP4MP_ET update files (RFC 6396 §4.4-4.5, ADD-PATH subtypes RFC 8050 §3).

A stream of UPDATE messages (IPv4 NLRI with NEXT_HOP, IPv6 in MP_REACH_NLRI, withdrawals in
both forms), STATE_CHANGE(_AS4) records and KEEPALIVEs (no rows), with exactly ``rows`` rows.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from cloudz.mrtgen.attributes import (
    EXTENDED_LENGTH,
    MP_REACH,
    MP_UNREACH,
    NEXT_HOP,
    OPT_NONTRANS,
    Attr,
    encode_attr,
    encode_attrs,
    random_asn,
    random_ipv4,
    random_ipv6,
    random_route,
)
from cloudz.mrtgen.records import (
    AFI_IPV6,
    BGP4MP,
    BGP4MP_ET,
    BGP_KEEPALIVE,
    GeneratedRecord,
    Row,
    base_row,
    bgp4mp_peer_header,
    bgp_message,
    bgp_update,
    ip_bytes,
    ip_version,
    ipv6_text,
    masked_prefix,
    mrt_record,
    mrt_record_et,
    nlri,
    with_host_bit,
)

STATE_CHANGE: Final = 0
MESSAGE: Final = 1
STATE_CHANGE_AS4: Final = 5
MESSAGE_AS4: Final = 4
MESSAGE_AS4_LOCAL: Final = 7
MESSAGE_ADDPATH: Final = 8
MESSAGE_AS4_ADDPATH: Final = 9
_AS4: Final = frozenset({MESSAGE_AS4, MESSAGE_AS4_LOCAL, MESSAGE_AS4_ADDPATH, STATE_CHANGE_AS4})
_ADDPATH: Final = frozenset({MESSAGE_ADDPATH, MESSAGE_AS4_ADDPATH})
_POOL: Final = 512
SAFI_UNICAST: Final = 1
SAFI_MULTICAST: Final = 2


@dataclass(frozen=True)
class UpdatesSpec:
    """What to generate; ``rows`` is exact. ``share``s are probabilities per record."""

    rows: int = 1000
    seed: int = 1
    timestamp: int = 1_700_000_000
    peers: int = 16
    et_share: float = 0.3
    addpath_share: float = 0.1
    two_byte_share: float = 0.1
    local_share: float = 0.02
    state_share: float = 0.02
    keepalive_share: float = 0.02
    max_prefixes: int = 12
    host_bits_share: float = 0.0
    """Prefixes (of lengths not a multiple of 8) written with a host bit set."""


@dataclass(frozen=True)
class _Peer:
    ip: str
    asn: int
    local_ip: str
    local_asn: int


@dataclass(frozen=True)
class _Path:
    """A pooled route: encoded attribute parts around NEXT_HOP and MP_REACH, and its columns."""

    head: bytes  # types 1, 2
    next_hop: bytes  # type 3
    mid: bytes  # types 4..13
    tail: bytes  # types 16+
    mp_flags: int
    v6_hops: bytes
    columns_v4: dict[str, Any]
    columns_v6: dict[str, Any]


def _peers(rng: random.Random, n: int) -> list[_Peer]:
    out = []
    for i in range(n):
        # every other peer has 2-byte ASNs, usable in MESSAGE / STATE_CHANGE (2-byte subtypes)
        two_byte = i % 2 == 0
        asn = random_asn(rng, 0.0 if two_byte else 0.7)
        local_asn = random_asn(rng, 0.0 if two_byte else 0.5)
        if rng.random() < 0.3:
            ip, local = random_ipv6(rng), random_ipv6(rng)
        else:
            ip, local = random_ipv4(rng), random_ipv4(rng)
        out.append(_Peer(ip, asn, local, local_asn))
    return out


def _split(attrs: list[Attr]) -> tuple[bytes, bytes, bytes, bytes]:
    head = encode_attrs([a for a in attrs if a[1] < NEXT_HOP])
    nh = encode_attrs([a for a in attrs if a[1] == NEXT_HOP])
    mid = encode_attrs([a for a in attrs if NEXT_HOP < a[1] < MP_REACH])
    tail = encode_attrs([a for a in attrs if a[1] > MP_UNREACH])
    return head, nh, mid, tail


def _path(rng: random.Random, as_size: int) -> _Path:
    route = random_route(rng, confederations=as_size == 4)
    hop4 = random_ipv4(rng)
    hop6 = random_ipv6(rng)
    v6_hops = ip_bytes(hop6)
    if rng.random() < 0.3:
        v6_hops += ip_bytes("fe80::" + format(rng.getrandbits(16), "x"))  # RFC 2545 §3
    head, nh, mid, tail = _split(route.attrs(as_size=as_size, next_hop=hop4))
    mp_flags = OPT_NONTRANS | (EXTENDED_LENGTH if MP_REACH in route.extended_length else 0)
    return _Path(head, nh, mid, tail, mp_flags, v6_hops, route.columns(hop4), route.columns(hop6))


def _prefixes(
    rng: random.Random, n: int, v6: bool, addpath: bool, host_bits: float = 0.0
) -> list[tuple[str, int, int | None]]:
    """``n`` prefixes, distinct unless ADD-PATH (mrtparse takes duplicates in plain NLRI as a
    sign of ADD-PATH, RFC 7911 §3 encoding, and real speakers never send them); a share
    ``host_bits`` of them is written with a host bit set (``with_host_bit``)."""
    out: list[tuple[str, int, int | None]] = []
    seen = set()
    while len(out) < n:
        if v6:
            length = rng.choice((32, 48, 48, 56, 64, 128, 0, 36))
            value = (0x1 << 125) | rng.getrandbits(125)
            value &= ((1 << 128) - 1) ^ ((1 << (128 - length)) - 1)
            net = ipv6_text(value)
        else:
            length = rng.choice((24, 24, 24, 22, 20, 16, 8, 32, 0, 25))
            value = rng.getrandbits(32) & (((1 << 32) - 1) ^ ((1 << (32 - length)) - 1))
            net = str(ipaddress.IPv4Address(value))
        path_id = rng.choice((1, 2, rng.getrandbits(32))) if addpath else None
        if addpath and out and rng.random() < 0.2:
            net, length = out[-1][0], out[-1][1]  # the same prefix on another path
            path_id = (out[-1][2] or 0) ^ 0x80000000
        key = (net, length, path_id)
        if key in seen:
            continue
        seen.add(key)
        if host_bits and length % 8 and rng.random() < host_bits:
            net = with_host_bit(net, length)
        out.append((net, length, path_id))
    return out


def _mp_unreach(v6: list[tuple[str, int, int | None]], safi: int) -> bytes:
    """RFC 4760 §4: AFI, SAFI, withdrawn routes."""
    return struct.pack(">HB", AFI_IPV6, safi) + nlri(v6)


def _mp_reach(hops: bytes, v6: list[tuple[str, int, int | None]], safi: int) -> bytes:
    """RFC 4760 §3: AFI, SAFI, next hop length, next hop(s), reserved, NLRI."""
    return struct.pack(">HBB", AFI_IPV6, safi, len(hops)) + hops + b"\x00" + nlri(v6)


def _mrt_type(et: bool, subtype: int) -> str:
    local = "_LOCAL" if subtype == MESSAGE_AS4_LOCAL else ""
    ap = "_AP" if subtype in _ADDPATH else ""
    return f"BGP4MP{'_ET' if et else ''}{local}{ap}"


def generate_updates(spec: UpdatesSpec, *, expected: bool = False) -> Iterator[GeneratedRecord]:
    """The records of an update file, one at a time; ``expected`` adds the rows to each."""
    if spec.peers < 2:
        raise ValueError("need at least 2 peers (one with 2-byte ASNs, one with 4-byte)")
    rng = random.Random(spec.seed)
    peers = _peers(rng, spec.peers)
    pools = {2: [_path(rng, 2) for _ in range(_POOL)], 4: [_path(rng, 4) for _ in range(_POOL)]}
    ts = spec.timestamp
    remaining = spec.rows
    r = rng.random
    while remaining > 0:
        host_bit_prefixes = 0
        ts += rng.randrange(2)
        et = r() < spec.et_share
        micros = rng.randrange(1_000_000) if et else 0
        ts_us = ts * 1_000_000 + micros
        two_byte = r() < spec.two_byte_share
        peer_i = rng.randrange(0, len(peers), 2) if two_byte else rng.randrange(len(peers))
        peer = peers[peer_i]
        rows: list[Row] | None = [] if expected else None
        kind = r()
        if kind < spec.state_share:
            subtype = STATE_CHANGE if two_byte else STATE_CHANGE_AS4
            old, new = rng.randrange(1, 7), rng.randrange(1, 7)
            head = bgp4mp_peer_header(
                peer.asn, peer.local_asn, not two_byte, peer.ip, peer.local_ip
            )
            body = head + struct.pack(">HH", old, new)
            if rows is not None:
                row = base_row(ts_us, f"BGP4MP{'_ET' if et else ''}", "STATE", peer.ip, peer.asn)
                row.update(old_state=old, new_state=new)
                rows.append(row)
            n_rows = 1
        elif kind < spec.state_share + spec.keepalive_share:
            subtype = MESSAGE if two_byte else MESSAGE_AS4
            head = bgp4mp_peer_header(
                peer.asn, peer.local_asn, not two_byte, peer.ip, peer.local_ip
            )
            body = head + bgp_message(BGP_KEEPALIVE, b"")
            n_rows = 0
        else:
            addpath = r() < spec.addpath_share
            local = not addpath and r() < spec.local_share
            if two_byte:
                subtype = MESSAGE_ADDPATH if addpath else MESSAGE
            elif addpath:
                subtype = MESSAGE_AS4_ADDPATH
            else:
                subtype = MESSAGE_AS4_LOCAL if local else MESSAGE_AS4
            n_rows = min(remaining, rng.randrange(1, spec.max_prefixes + 1))
            buckets = [0, 0, 0, 0]  # withdrawn v4, MP_UNREACH v6, NLRI v4, MP_REACH v6
            for _ in range(n_rows):
                buckets[rng.randrange(4)] += 1
            hb = spec.host_bits_share
            w4 = _prefixes(rng, buckets[0], False, addpath, hb)
            w6 = _prefixes(rng, buckets[1], True, addpath, hb)
            a4 = _prefixes(rng, buckets[2], False, addpath, hb)
            a6 = _prefixes(rng, buckets[3], True, addpath, hb)
            host_bit_prefixes = sum(
                masked_prefix(net, length) != f"{net}/{length}"
                for net, length, _ in w4 + w6 + a4 + a6
            )
            safi = SAFI_MULTICAST if r() < 0.05 else SAFI_UNICAST
            path = pools[2 if two_byte else 4][rng.randrange(_POOL)]
            attrs = bytearray()
            if a4 or a6:
                attrs += path.head + (path.next_hop if a4 else b"") + path.mid
                if a6:
                    attrs += encode_attr(path.mp_flags, MP_REACH, _mp_reach(path.v6_hops, a6, safi))
            if w6:
                attrs += encode_attr(OPT_NONTRANS, MP_UNREACH, _mp_unreach(w6, safi))
            if a4 or a6:
                attrs += path.tail
            head = bgp4mp_peer_header(
                peer.asn, peer.local_asn, not two_byte, peer.ip, peer.local_ip
            )
            body = head + bgp_update(nlri(w4), bytes(attrs), nlri(a4))
            if rows is not None:
                mrt_type = _mrt_type(et, subtype)
                # *_LOCAL (sent by the collector): bgpdump 1.6.2 still prints the peer fields
                ip, asn = peer.ip, peer.asn
                for net, length, pid in w4 + w6:
                    row = base_row(ts_us, mrt_type, "W", ip, asn)
                    row.update(prefix=masked_prefix(net, length), path_id=pid)
                    row["ip_version"] = ip_version(row["prefix"])
                    rows.append(row)
                for prefixes, columns in ((a4, path.columns_v4), (a6, path.columns_v6)):
                    for net, length, pid in prefixes:
                        row = base_row(ts_us, mrt_type, "A", ip, asn)
                        row.update(columns)
                        row.update(prefix=masked_prefix(net, length), path_id=pid)
                        row["ip_version"] = ip_version(row["prefix"])
                        rows.append(row)
        remaining -= n_rows
        mrt_t = BGP4MP_ET if et else BGP4MP
        data = (
            mrt_record_et(ts, micros, mrt_t, subtype, body)
            if et
            else mrt_record(ts, mrt_t, subtype, body)
        )
        yield GeneratedRecord(data, n_rows, rows, n_rows, host_bit_prefixes)
