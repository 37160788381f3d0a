"""BGP path attributes (mrtparse's dicts) → the row's attribute columns, in bgpdump's text forms.

The AS path text and the RFC 6793 AS4_PATH / AS4_AGGREGATOR merge follow bgpdump's
``process_attr_aspath_string`` and ``process_asn32_trans`` so rows compare equal to
``bgpdump -m`` column by column (see docs/row-schema.md for where we deliberately differ).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

AS_SET: Final = 1
AS_SEQUENCE: Final = 2
AS_CONFED_SEQUENCE: Final = 3
AS_CONFED_SET: Final = 4
AS_TRANS: Final = 23456
_SETS: Final = (AS_SET, AS_CONFED_SET)
_DELIMS: Final = {AS_SET: ("{", "}"), AS_CONFED_SET: ("[", "]"), AS_CONFED_SEQUENCE: ("(", ")")}
ORIGINS: Final = {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}

ATTR_ORIGIN: Final = 1
ATTR_AS_PATH: Final = 2
ATTR_NEXT_HOP: Final = 3
ATTR_MED: Final = 4
ATTR_LOCAL_PREF: Final = 5
ATTR_ATOMIC_AGGREGATE: Final = 6
ATTR_AGGREGATOR: Final = 7
ATTR_COMMUNITY: Final = 8
ATTR_MP_REACH: Final = 14
ATTR_MP_UNREACH: Final = 15
ATTR_EXT_COMMUNITIES: Final = 16
ATTR_AS4_PATH: Final = 17
ATTR_AS4_AGGREGATOR: Final = 18
ATTR_LARGE_COMMUNITY: Final = 32
ATTR_ONLY_TO_CUSTOMER: Final = 35
DECODED: Final = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18, 32, 35})
"""Attribute types that become columns; every other one is kept raw in ``other_attributes``."""

Segment = tuple[int, list[int]]


def _code(d: Any) -> int:
    """mrtparse writes enumerations as ``{code: name}``."""
    return int(next(iter(d)))


def _segments(value: list[dict[str, Any]]) -> list[Segment]:
    segs: list[Segment] = []
    for seg in value:
        code = _code(seg["type"])
        if code not in (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET):
            raise ValueError(f"unknown AS path segment type {code}")
        segs.append((code, [int(a) for a in seg["value"]]))
    return segs


def as_path_text(segments: list[Segment]) -> str:
    """bgpdump's form: "1 2 {3,4} (5 6) [7,8]"."""
    out: list[str] = []
    prev = AS_SEQUENCE
    space = False
    for code, asns in segments:
        if prev != AS_SEQUENCE:
            out.append(_DELIMS[prev][1])
        if space:
            out.append(" ")
        if code != AS_SEQUENCE:
            out.append(_DELIMS[code][0])
        space = False
        sep = "," if code in _SETS else " "
        for asn in asns:
            if space:
                out.append(sep)
            space = True
            out.append(str(asn))
        prev = code
    if segments and segments[-1][0] != AS_SEQUENCE:
        out.append(_DELIMS[segments[-1][0]][1])
    return "".join(out)


def path_asns(segments: list[Segment]) -> list[int]:
    """``as_path_asns``: the ASNs of the AS_SEQUENCE and AS_SET segments in wire order, a set's
    members flattened; confederation segments left out (hops inside the neighbour's
    confederation, RFC 5065 §5, not between ASes)."""
    return [a for code, asns in segments if code in (AS_SEQUENCE, AS_SET) for a in asns]


def origin_asns(segments: list[Segment]) -> list[int]:
    """``origin_asns``: of the last non-empty AS_SEQUENCE or AS_SET segment, a sequence's last
    ASN or a set's members (an aggregate's possible origins, as BGPKIT's ``origin_asns``)."""
    for code, asns in reversed(segments):
        if asns and code == AS_SEQUENCE:
            return [asns[-1]]
        if asns and code == AS_SET:
            return list(asns)
    return []


def _hop_count(segments: list[Segment]) -> int:
    return sum(1 if code in _SETS else len(asns) for code, asns in segments)


def merge_as4_path(as_path: list[Segment], as4_path: list[Segment]) -> list[Segment]:
    """RFC 6793 §4.2.3: the leading AS_PATH hops the AS4_PATH lacks, then the AS4_PATH."""
    total, total4 = _hop_count(as_path), _hop_count(as4_path)
    if total < total4:
        return as_path
    needed = total - total4
    merged: list[Segment] = []
    count = 0
    for code, asns in as_path:
        if count >= needed:
            break
        if code in _SETS:
            merged.append((code, asns))
            count += 1
        else:
            take = asns[: needed - count]
            merged.append((code, take))
            count += len(take)
    return merged + as4_path


def ext_community_text(value: int) -> str:
    """An RFC 4360 extended community as 16 hex digits: type, sub-type, 6 value octets."""
    return f"{value:016x}"


@dataclass
class RouteAttributes:
    """The attribute columns shared by every prefix of one UPDATE or one RIB entry."""

    as_path: str | None = None
    origin: str | None = None
    next_hop: str | None = None
    mp_next_hop: str | None = None
    local_pref: int | None = None
    med: int | None = None
    atomic_aggregate: bool = False
    aggregator: str | None = None
    aggregator_asn: int | None = None
    aggregator_ip: str | None = None
    as_path_asns: list[int] = field(default_factory=list)
    origin_asns: list[int] = field(default_factory=list)
    communities: list[str] = field(default_factory=list)
    large_communities: list[str] = field(default_factory=list)
    extended_communities: list[str] = field(default_factory=list)
    only_to_customer: int | None = None
    other_attributes: list[dict[str, Any]] = field(default_factory=list)
    mp_reach: dict[str, Any] | None = None
    mp_unreach: list[dict[str, Any]] = field(default_factory=list)
    #: attributes of a type seen before in the list (RFC 7606 §3 g: the first counts), kept
    #: raw in ``other_attributes``: the caller counts them as repairs
    repeated: int = 0

    def columns(self, next_hop: str | None) -> dict[str, Any]:
        """The row columns, with the next hop chosen by the caller."""
        return {
            "as_path": self.as_path,
            "origin": self.origin,
            "next_hop": next_hop,
            "local_pref": self.local_pref,
            "med": self.med,
            "atomic_aggregate": self.atomic_aggregate,
            "aggregator": self.aggregator,
            "communities": self.communities,
            "large_communities": self.large_communities,
            "extended_communities": self.extended_communities,
            "only_to_customer": self.only_to_customer,
            "other_attributes": self.other_attributes,
            "as_path_asns": self.as_path_asns,
            "origin_asns": self.origin_asns,
            "aggregator_asn": self.aggregator_asn,
            "aggregator_ip": self.aggregator_ip,
        }


def parse_attributes(attrs: list[dict[str, Any]], two_byte_as: bool) -> RouteAttributes:
    """Collect the row columns from mrtparse's attribute list.

    ``two_byte_as``: the record carries 2-byte AS numbers (BGP4MP_MESSAGE, TABLE_DUMP,
    BGP4MP_ENTRY), so AS4_PATH / AS4_AGGREGATOR are merged in as bgpdump does.
    """
    ra = RouteAttributes()
    as_path: list[Segment] | None = None
    as4_path: list[Segment] | None = None
    aggregator: tuple[int, str] | None = None
    as4_aggregator: tuple[int, str] | None = None
    seen: set[int] = set()
    for attr in attrs:
        code = _code(attr["type"])
        if code in seen:  # RFC 7606 §3 (g): the first counts; a later one is kept raw, counted
            raw = {"type": code, "flags": int(attr["flag"]), "value": attr["raw_value"]}
            ra.other_attributes.append(raw)
            ra.repeated += 1
            continue
        seen.add(code)
        if "undecodable" in attr:  # its value did not decode (decode.py): kept raw, not lost
            raw = {"type": code, "flags": int(attr["flag"]), "value": attr["raw_value"]}
            ra.other_attributes.append(raw)
            continue
        value: Any = attr.get("value")
        if code == ATTR_ORIGIN:
            origin = _code(value)
            ra.origin = ORIGINS.get(origin, str(origin))
        elif code == ATTR_AS_PATH:
            as_path = _segments(value or [])
        elif code == ATTR_NEXT_HOP:
            ra.next_hop = value
        elif code == ATTR_MED:
            ra.med = int(value)
        elif code == ATTR_LOCAL_PREF:
            ra.local_pref = int(value)
        elif code == ATTR_ATOMIC_AGGREGATE:
            ra.atomic_aggregate = True
        elif code == ATTR_AGGREGATOR:
            aggregator = (int(value["as"]), str(value["id"]))
        elif code == ATTR_AS4_AGGREGATOR:
            as4_aggregator = (int(value["as"]), str(value["id"]))
        elif code == ATTR_COMMUNITY:
            ra.communities = [str(c) for c in value]
        elif code == ATTR_LARGE_COMMUNITY:
            ra.large_communities = [str(c) for c in value]
        elif code == ATTR_EXT_COMMUNITIES:
            ra.extended_communities = [ext_community_text(int(c)) for c in value]
        elif code == ATTR_AS4_PATH:
            as4_path = _segments(value or [])
        elif code == ATTR_MP_REACH:
            ra.mp_reach = value
            hops = value.get("next_hop") or []
            ra.mp_next_hop = hops[0] if hops else None
        elif code == ATTR_MP_UNREACH:
            ra.mp_unreach.append(value)
        elif code == ATTR_ONLY_TO_CUSTOMER and len(attr["raw_value"]) == 4:
            ra.only_to_customer = int.from_bytes(attr["raw_value"], "big")  # RFC 9234 §5
        if code not in DECODED or (code == ATTR_ONLY_TO_CUSTOMER and len(attr["raw_value"]) != 4):
            # a malformed OTC (RFC 9234 §5: length must be 4) is kept raw rather than lost
            raw = {"type": code, "flags": int(attr["flag"]), "value": attr["raw_value"]}
            ra.other_attributes.append(raw)
    if two_byte_as:
        # bgpdump's process_asn32_trans: an AGGREGATOR that is not AS_TRANS next to an
        # AS4_AGGREGATOR means a 4-byte-unaware speaker aggregated: ignore both AS4 attributes
        ignore_as4 = aggregator is not None and as4_aggregator is not None
        if ignore_as4 and aggregator is not None and aggregator[0] == AS_TRANS:
            aggregator, ignore_as4 = as4_aggregator, False
        if not ignore_as4 and as_path is not None and as4_path is not None:
            as_path = merge_as4_path(as_path, as4_path)
    if as_path is not None:
        ra.as_path = as_path_text(as_path)
        ra.as_path_asns = path_asns(as_path)
        ra.origin_asns = origin_asns(as_path)
    if aggregator is not None:
        ra.aggregator = f"{aggregator[0]} {aggregator[1]}"
        ra.aggregator_asn, ra.aggregator_ip = aggregator
    return ra
