"""MRT files with chosen contents: given routes at given times, for answers planted in tests.

The random generators (``rib``, ``updates``) check the converter on every feature; a query
guide needs the opposite: a hijack at a known minute, a prefix that flaps, two origins of one
prefix. :func:`rib_records` writes a TABLE_DUMP_V2 RIB of the given entries,
:func:`update_records` a BGP4MP file (MESSAGE_AS4) of the given announcements and withdrawals;
IPv6 prefixes go in MP_REACH_NLRI / MP_UNREACH_NLRI, IPv4 ones in the plain NLRI fields.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cloudz.mrtgen.attributes import (
    AS_SEQUENCE,
    AS_SET,
    MP_UNREACH,
    OPT_NONTRANS,
    Route,
    Segment,
    encode_attr,
    encode_attrs,
)
from cloudz.mrtgen.records import (
    AFI_IPV6,
    BGP4MP,
    TABLE_DUMP_V2,
    GeneratedRecord,
    bgp4mp_peer_header,
    bgp_update,
    ip_bytes,
    mrt_record,
    nlri,
    prefix_bytes,
)
from cloudz.mrtgen.rib import PEER_INDEX_TABLE, RIB_SUBTYPES

MESSAGE_AS4 = 4
COLLECTOR_ASN = 6447
COLLECTOR_IP = "192.0.2.254"


@dataclass(frozen=True)
class Peer:
    ip: str
    asn: int


@dataclass(frozen=True)
class Route4:
    """One route: prefix, AS path (a trailing tuple in ``path_set`` is an AS_SET), communities."""

    prefix: str
    path: tuple[int, ...]
    communities: tuple[tuple[int, int], ...] = ()
    path_set: tuple[int, ...] = ()

    def route(self) -> Route:
        segments: list[Segment] = [(AS_SEQUENCE, self.path)]
        if self.path_set:
            segments.append((AS_SET, self.path_set))
        return Route(origin=0, segments=segments, communities=list(self.communities))

    @property
    def v6(self) -> bool:
        return ":" in self.prefix


@dataclass(frozen=True)
class Event:
    """At ``timestamp`` (seconds), ``peer`` announces ``route`` or, with ``withdraw``, withdraws
    its prefix."""

    timestamp: int
    peer: Peer
    route: Route4
    withdraw: bool = False


def _split(prefix: str) -> tuple[str, int]:
    network, length = prefix.split("/")
    return network, int(length)


def _next_hop(peer: Peer, v6: bool) -> str:
    """The peer's own address when its family is the prefix's, else a documentation one."""
    if v6 == (":" in peer.ip):
        return peer.ip
    return "2001:db8::1" if v6 else "192.0.2.1"


def update_records(events: Sequence[Event]) -> Iterator[GeneratedRecord]:
    """One BGP4MP MESSAGE_AS4 record per event, in the order given."""
    for ev in events:
        network, length = _split(ev.route.prefix)
        one: list[tuple[str, int, int | None]] = [(network, length, None)]
        v6 = ev.route.v6
        if ev.withdraw:
            if v6:
                mp = struct.pack(">HB", AFI_IPV6, 1) + nlri(one)
                update = bgp_update(b"", encode_attr(OPT_NONTRANS, MP_UNREACH, mp), b"")
            else:
                update = bgp_update(nlri(one), b"", b"")
        else:
            hop = _next_hop(ev.peer, v6)
            if v6:
                hops = ip_bytes(hop)
                mp = struct.pack(">HBB", AFI_IPV6, 1, len(hops)) + hops + b"\x00" + nlri(one)
                attrs = ev.route.route().attrs(as_size=4, mp_reach=mp)
                update = bgp_update(b"", encode_attrs(attrs), b"")
            else:
                attrs = ev.route.route().attrs(as_size=4, next_hop=hop)
                update = bgp_update(b"", encode_attrs(attrs), nlri(one))
        local = "2001:db8::fe" if ":" in ev.peer.ip else COLLECTOR_IP
        head = bgp4mp_peer_header(ev.peer.asn, COLLECTOR_ASN, True, ev.peer.ip, local)
        data = mrt_record(ev.timestamp, BGP4MP, MESSAGE_AS4, head + update)
        yield GeneratedRecord(data, 1, None, 1)


def rib_records(
    timestamp: int, peers: Sequence[Peer], entries: Sequence[tuple[Peer, Route4]]
) -> Iterator[GeneratedRecord]:
    """A TABLE_DUMP_V2 RIB: the PEER_INDEX_TABLE, then one record per prefix (first-seen
    order) with the entries of every peer that has one."""
    table = bytearray(ip_bytes(COLLECTOR_IP) + struct.pack(">H", 0) + struct.pack(">H", len(peers)))
    for p in peers:
        v6 = ":" in p.ip
        table.append((1 if v6 else 0) | 2)
        table += ip_bytes(COLLECTOR_IP) + ip_bytes(p.ip) + struct.pack(">I", p.asn)
    yield GeneratedRecord(
        mrt_record(timestamp, TABLE_DUMP_V2, PEER_INDEX_TABLE, bytes(table)), 0, None, 0
    )
    by_prefix: dict[str, list[tuple[Peer, Route4]]] = {}
    for peer, route in entries:
        by_prefix.setdefault(route.prefix, []).append((peer, route))
    for seq, (prefix, held) in enumerate(by_prefix.items()):
        network, length = _split(prefix)
        v6 = ":" in network
        body = bytearray(struct.pack(">I", seq) + prefix_bytes(network, length))
        body += struct.pack(">H", len(held))
        for peer, route in held:
            hop = _next_hop(peer, v6)
            if v6:  # RFC 6396 §4.3.4: next hop length and next hop only
                hops = ip_bytes(hop)
                attrs = route.route().attrs(as_size=4, mp_reach=bytes([len(hops)]) + hops)
            else:
                attrs = route.route().attrs(as_size=4, next_hop=hop)
            raw = encode_attrs(attrs)
            body += struct.pack(">HIH", peers.index(peer), timestamp - 3600, len(raw)) + raw
        subtype = RIB_SUBTYPES[(v6, False, False)]
        yield GeneratedRecord(
            mrt_record(timestamp, TABLE_DUMP_V2, subtype, bytes(body)), len(held), None, len(held)
        )
