"""BGP path attributes: a random route, its wire encoding, and the row columns it must become.

The expected column text is computed here from the route model, independently of the
converter (which reads the bytes back through mrtparse), so a property test comparing the two
checks both the encoding and the decoding. Forms follow docs/row-schema.md.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from cloudz.mrtgen.records import ip_bytes, ipv6_text

# RFC 4271 §4.3 attribute flags
OPTIONAL: Final = 0x80
TRANSITIVE: Final = 0x40
PARTIAL: Final = 0x20
EXTENDED_LENGTH: Final = 0x10
WELL_KNOWN: Final = TRANSITIVE
OPT_TRANS: Final = OPTIONAL | TRANSITIVE
OPT_NONTRANS: Final = OPTIONAL

ORIGIN: Final = 1
AS_PATH: Final = 2
NEXT_HOP: Final = 3
MED: Final = 4
LOCAL_PREF: Final = 5
ATOMIC_AGGREGATE: Final = 6
AGGREGATOR: Final = 7
COMMUNITIES: Final = 8
ORIGINATOR_ID: Final = 9
CLUSTER_LIST: Final = 10
MP_REACH: Final = 14
MP_UNREACH: Final = 15
EXT_COMMUNITIES: Final = 16
AS4_PATH: Final = 17
AS4_AGGREGATOR: Final = 18
LARGE_COMMUNITIES: Final = 32
ONLY_TO_CUSTOMER: Final = 35
UNKNOWN_TYPE: Final = 99
"""An unassigned attribute type: must come back as raw bytes in ``other_attributes``."""

AS_SET: Final = 1
AS_SEQUENCE: Final = 2
AS_CONFED_SEQUENCE: Final = 3
AS_CONFED_SET: Final = 4
AS_TRANS: Final = 23456

ORIGIN_NAMES: Final = ("IGP", "EGP", "INCOMPLETE")
WELL_KNOWN_COMMUNITIES: Final = ((65535, 65281), (65535, 65282), (65535, 65283))

Attr = tuple[int, int, bytes]
"""(flags, type, payload); the extended-length bit in flags decides the length field size."""
Segment = tuple[int, tuple[int, ...]]


def encode_attr(flags: int, attr_type: int, payload: bytes) -> bytes:
    """RFC 4271 §4.3: flags, type, 1-byte length, or 2-byte length with EXTENDED_LENGTH.

    Payloads over 255 bytes get the extended-length flag whatever ``flags`` says.
    """
    if len(payload) > 255:
        flags |= EXTENDED_LENGTH
    if flags & EXTENDED_LENGTH:
        return struct.pack(">BBH", flags, attr_type, len(payload)) + payload
    return struct.pack(">BBB", flags, attr_type, len(payload)) + payload


def wire_flags(flags: int, payload: bytes) -> int:
    """The flags byte :func:`encode_attr` writes for this payload."""
    return flags | EXTENDED_LENGTH if len(payload) > 255 else flags


def encode_attrs(attrs: list[Attr]) -> bytes:
    return b"".join(encode_attr(f, t, p) for f, t, p in attrs)


def as_path_payload(segments: list[Segment], as_size: int) -> bytes:
    """RFC 4271 §4.3 (b) / RFC 6793 §3: segment type, ASN count, ASNs of ``as_size`` bytes."""
    fmt = ">I" if as_size == 4 else ">H"
    out = bytearray()
    for seg_type, asns in segments:
        out += bytes([seg_type, len(asns)])
        for asn in asns:
            out += struct.pack(fmt, asn)
    return bytes(out)


def as_path_text(segments: list[Segment]) -> str:
    """bgpdump's text: sequences space separated, {set}, (confed seq), [confed set]."""
    parts = []
    for seg_type, asns in segments:
        if seg_type == AS_SEQUENCE:
            parts.append(" ".join(map(str, asns)))
        elif seg_type == AS_SET:
            parts.append("{" + ",".join(map(str, asns)) + "}")
        elif seg_type == AS_CONFED_SEQUENCE:
            parts.append("(" + " ".join(map(str, asns)) + ")")
        else:
            parts.append("[" + ",".join(map(str, asns)) + "]")
    return " ".join(parts)


def _origin_asns(segments: list[Segment]) -> list[int]:
    """The last AS_SEQUENCE's last ASN, or the last AS_SET's members (confederation segments
    and empty ones skipped)."""
    for seg_type, asns in reversed(segments):
        if asns and seg_type == AS_SEQUENCE:
            return [asns[-1]]
        if asns and seg_type == AS_SET:
            return list(asns)
    return []


def _two_byte(segments: list[Segment]) -> list[Segment]:
    """RFC 6793 §4.2.2: ASNs that do not fit 2 bytes become AS_TRANS in the AS_PATH."""
    return [(t, tuple(a if a <= 0xFFFF else AS_TRANS for a in asns)) for t, asns in segments]


@dataclass
class Route:
    """The attributes of one route, as a model (not bytes)."""

    origin: int = 0
    segments: list[Segment] | None = field(default_factory=list)
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: tuple[int, str] | None = None
    communities: list[tuple[int, int]] = field(default_factory=list)
    large_communities: list[tuple[int, int, int]] = field(default_factory=list)
    extended_communities: list[bytes] = field(default_factory=list)
    only_to_customer: int | None = None
    others: list[Attr] = field(default_factory=list)
    """Attributes the converter keeps raw (ORIGINATOR_ID, CLUSTER_LIST, unknown), wire order."""
    extended_length: frozenset[int] = frozenset()
    """Attribute types written with the extended-length flag even when short (RFC 4271 §4.3)."""

    def attrs(
        self, *, as_size: int, next_hop: str | None = None, mp_reach: bytes | None = None
    ) -> list[Attr]:
        """The attributes in type order (RFC 4271 §5 recommends it); MP_REACH payload as given.

        ``as_size`` 2: BGP4MP_MESSAGE / TABLE_DUMP semantics, with AS4_PATH and AS4_AGGREGATOR
        for ASNs that do not fit (RFC 6793 §4.2.2).
        """
        out: list[Attr] = [(WELL_KNOWN, ORIGIN, bytes([self.origin]))]
        as4_path = None
        if self.segments is not None:
            segs = self.segments
            if as_size == 2 and any(a > 0xFFFF for _, asns in segs for a in asns):
                as4_path = as_path_payload(segs, 4)
                segs = _two_byte(segs)
            out.append((WELL_KNOWN, AS_PATH, as_path_payload(segs, as_size)))
        if next_hop is not None:
            out.append((WELL_KNOWN, NEXT_HOP, ip_bytes(next_hop)))
        if self.med is not None:
            out.append((OPT_NONTRANS, MED, struct.pack(">I", self.med)))
        if self.local_pref is not None:
            out.append((WELL_KNOWN, LOCAL_PREF, struct.pack(">I", self.local_pref)))
        if self.atomic_aggregate:
            out.append((WELL_KNOWN, ATOMIC_AGGREGATE, b""))
        as4_aggregator = None
        if self.aggregator is not None:
            asn, ip = self.aggregator
            if as_size == 2:
                if asn > 0xFFFF:
                    as4_aggregator = struct.pack(">I", asn) + ip_bytes(ip)
                    asn = AS_TRANS
                payload = struct.pack(">H", asn) + ip_bytes(ip)
            else:
                payload = struct.pack(">I", asn) + ip_bytes(ip)
            out.append((OPT_TRANS, AGGREGATOR, payload))
        if self.communities:
            payload = b"".join(struct.pack(">HH", a, b) for a, b in self.communities)
            out.append((OPT_TRANS, COMMUNITIES, payload))
        out.extend(a for a in self.others if a[1] < MP_REACH)
        if mp_reach is not None:
            out.append((OPT_NONTRANS, MP_REACH, mp_reach))
        if self.extended_communities:
            out.append((OPT_TRANS, EXT_COMMUNITIES, b"".join(self.extended_communities)))
        if as4_path is not None:
            out.append((OPT_TRANS, AS4_PATH, as4_path))
        if as4_aggregator is not None:
            out.append((OPT_TRANS, AS4_AGGREGATOR, as4_aggregator))
        if self.large_communities:
            payload = b"".join(struct.pack(">III", *c) for c in self.large_communities)
            out.append((OPT_TRANS, LARGE_COMMUNITIES, payload))
        if self.only_to_customer is not None:
            out.append((OPT_TRANS, ONLY_TO_CUSTOMER, struct.pack(">I", self.only_to_customer)))
        out.extend(a for a in self.others if a[1] > MP_REACH)
        return [(f | EXTENDED_LENGTH if t in self.extended_length else f, t, p) for f, t, p in out]

    def columns(self, next_hop: str | None) -> dict[str, Any]:
        """The row columns this route becomes (docs/row-schema.md)."""
        others = [
            {
                "type": t,
                "flags": wire_flags(f | (EXTENDED_LENGTH if t in self.extended_length else 0), p),
                "value": p,
            }
            for f, t, p in self.others
        ]
        return {
            "as_path": None if self.segments is None else as_path_text(self.segments),
            "origin": ORIGIN_NAMES[self.origin],
            "next_hop": next_hop,
            "local_pref": self.local_pref,
            "med": self.med,
            "atomic_aggregate": self.atomic_aggregate,
            "aggregator": None
            if self.aggregator is None
            else f"{self.aggregator[0]} {self.aggregator[1]}",
            "communities": [f"{a}:{b}" for a, b in self.communities],
            "large_communities": [f"{a}:{b}:{c}" for a, b, c in self.large_communities],
            "extended_communities": [c.hex() for c in self.extended_communities],
            "only_to_customer": self.only_to_customer,
            "other_attributes": others,
            "as_path_asns": [
                a for t, asns in self.segments or [] if t in (AS_SEQUENCE, AS_SET) for a in asns
            ],
            "origin_asns": _origin_asns(self.segments or []),
            "aggregator_asn": None if self.aggregator is None else self.aggregator[0],
            "aggregator_ip": None if self.aggregator is None else self.aggregator[1],
        }


def random_asn(rng: random.Random, four_byte_share: float = 0.3) -> int:
    """A public-looking ASN; never AS_TRANS or 0 (which would change the meaning)."""
    if rng.random() < four_byte_share:
        return rng.randrange(65536 * 3, 4_200_000_000)
    asn = rng.randrange(1, 65000)
    return asn if asn != AS_TRANS else asn + 1


def random_ipv4(rng: random.Random) -> str:
    return (
        f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )


def random_ipv6(rng: random.Random) -> str:
    return ipv6_text((0x2001_0DB8 << 96) | rng.getrandbits(96))


def random_route(
    rng: random.Random, first_asn: int | None = None, *, confederations: bool = True
) -> Route:
    """A route with a random mix of every attribute the converter decodes, plus raw ones.

    ``confederations``: allow AS_CONFED_* segments (not for 2-byte-AS routes, where RFC 6793
    §3 keeps them out of AS4_PATH and the merge would change the path).
    """
    r = rng.random
    route = Route(origin=rng.randrange(3))
    if r() < 0.03:
        route.segments = None  # no AS_PATH at all (bgpdump prints "")
    elif r() < 0.05:
        route.segments = []  # empty AS_PATH: iBGP-originated
    else:
        n = rng.randrange(1, 9)
        asns = tuple(random_asn(rng) for _ in range(n))
        if first_asn is not None:
            asns = (first_asn, *asns[1:])
        segs: list[Segment] = []
        if confederations and r() < 0.08:
            kind = AS_CONFED_SEQUENCE if r() < 0.6 else AS_CONFED_SET
            segs.append(
                (kind, tuple(rng.randrange(64512, 65535) for _ in range(rng.randrange(1, 4))))
            )
        segs.append((AS_SEQUENCE, asns))
        if r() < 0.1:
            segs.append((AS_SET, tuple(random_asn(rng) for _ in range(rng.randrange(1, 5)))))
        if r() < 0.02:
            # a path longer than 255 ASNs needs two AS_SEQUENCE segments (RFC 4271 §4.3 (b))
            segs.append((AS_SEQUENCE, tuple(random_asn(rng, 0.5) for _ in range(70))))
        route.segments = segs
    if r() < 0.4:
        route.med = rng.choice((rng.getrandbits(32), rng.randrange(1, 1000)))
    if r() < 0.3:
        route.local_pref = rng.choice((100, 200, 50, rng.getrandbits(32) or 1))
    if r() < 0.1:
        route.atomic_aggregate = True
    if r() < 0.15:
        route.aggregator = (random_asn(rng), random_ipv4(rng))
    if r() < 0.6:
        n = rng.choice((1, 2, 3, 5, 10, 70))  # 70 communities: 280 bytes, extended length
        route.communities = [(rng.randrange(1, 65536), rng.randrange(65536)) for _ in range(n)]
        if r() < 0.2:
            route.communities.append(rng.choice(WELL_KNOWN_COMMUNITIES))
    if r() < 0.2:
        route.large_communities = [
            (rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32))
            for _ in range(rng.randrange(1, 4))
        ]
    if r() < 0.2:
        route.extended_communities = [
            bytes([rng.choice((0, 1, 2, 0x40, 0x43))]) + rng.randbytes(7)
            for _ in range(rng.randrange(1, 4))
        ]
    if r() < 0.1:
        route.only_to_customer = random_asn(rng)
    if r() < 0.05:
        route.others.append((OPT_NONTRANS, ORIGINATOR_ID, ip_bytes(random_ipv4(rng))))
        cluster = b"".join(ip_bytes(random_ipv4(rng)) for _ in range(rng.randrange(1, 3)))
        route.others.append((OPT_NONTRANS, CLUSTER_LIST, cluster))
    if r() < 0.1:
        route.others.append(
            (OPT_TRANS | PARTIAL, UNKNOWN_TYPE, rng.randbytes(rng.randrange(0, 12)))
        )
    if r() < 0.1:
        route.extended_length = frozenset(
            rng.sample((ORIGIN, AS_PATH, COMMUNITIES, UNKNOWN_TYPE, MP_REACH), 2)
        )
    return route


def varied_route(rng: random.Random, vocabulary: list[int]) -> Route:
    """An attribute-heavy route, as a full-table RIB of a large collector carries them.

    Long AS paths (prepends, AS_SETs at the end, some confederation segments), many standard
    and large communities, aggregators and MEDs on most routes: the attributes that cost the
    converter most per row. ASNs and community values come mostly from ``vocabulary`` (real
    paths share their transit ASes, real communities a few operators' values), so the file
    compresses about as a real RIB does.
    """
    r = rng.random

    def asn() -> int:
        return rng.choice(vocabulary) if r() < 0.8 else random_asn(rng)

    route = Route(origin=rng.randrange(3))
    asns = [asn() for _ in range(rng.randrange(3, 16))]
    if r() < 0.3:  # prepending: the origin repeated
        asns += [asns[-1]] * rng.randrange(1, 6)
    segs: list[Segment] = []
    if r() < 0.05:
        segs.append((AS_CONFED_SEQUENCE, tuple(rng.randrange(64512, 65535) for _ in range(2))))
    segs.append((AS_SEQUENCE, tuple(asns)))
    if r() < 0.04:  # rare, as in real tables (and bgpdump slows down a lot on them)
        segs.append((AS_SET, tuple(asn() for _ in range(rng.randrange(2, 9)))))
    route.segments = segs
    if r() < 0.6:
        route.med = rng.choice((rng.getrandbits(32), rng.randrange(1, 1000)))
    if r() < 0.4:
        route.local_pref = rng.choice((100, 200, 50, rng.getrandbits(32) or 1))
    if r() < 0.2:
        route.atomic_aggregate = True
    if r() < 0.5:
        route.aggregator = (asn(), random_ipv4(rng))
    operators = vocabulary[:40]
    if r() < 0.9:
        n = rng.choice((1, 2, 3, 4, 6, 8, 12, 20))
        route.communities = [
            (
                rng.choice(operators) & 0xFFFF or 1,
                rng.choice((rng.randrange(1000), rng.getrandbits(16))),
            )
            for _ in range(n)
        ]
        if r() < 0.2:
            route.communities.append(rng.choice(WELL_KNOWN_COMMUNITIES))
    if r() < 0.6:
        route.large_communities = [
            (
                rng.choice(operators),
                rng.randrange(1, 10),
                rng.choice((rng.randrange(1000), rng.getrandbits(32))),
            )
            for _ in range(rng.randrange(1, 5))
        ]
    if r() < 0.3:
        route.extended_communities = [
            bytes([rng.choice((0, 1, 2, 0x40, 0x43))]) + rng.randbytes(7)
            for _ in range(rng.randrange(1, 5))
        ]
    # no ONLY_TO_CUSTOMER / ORIGINATOR_ID: with them beside AS_SETs, bgpdump 1.6.2 spends most
    # of its time in brk() (glibc trimming its heap after every record), which would make any
    # ratio to it meaningless
    return route
