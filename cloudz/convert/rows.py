"""Decoded MRT records → row dicts (one per RIB entry, announced or withdrawn prefix, state change).

Rows come out in ``bgpdump -m``'s order (per UPDATE: withdrawals, then announcements; plain
IPv4 NLRI before MP_REACH/MP_UNREACH ones) so the two can be compared line by line. The
per-file columns (collector, source, indexes) are added by :mod:`cloudz.convert.converter`.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, Final

from cloudz.convert.attributes import RouteAttributes, parse_attributes
from cloudz.convert.decode import (
    RecordNotes,
    decode_record,
    masked_network,
    noting,
)
from cloudz.convert.drops import (
    DROP_NO_PEER_INDEX,
    DROP_UNSUPPORTED,
    REPAIR_ATTRIBUTE_REPEATED,
    REPAIR_MICROSECONDS,
    REPAIR_PEER_MISSING,
    RecordDecodeError,
)
from cloudz.convert.framing import HEADER_LEN, MrtRecord
from cloudz.convert.peer_index import PEER_INDEX_TABLE, decode_peer_index

TABLE_DUMP: Final = 12
TABLE_DUMP_V2: Final = 13
BGP4MP: Final = 16
BGP4MP_ET: Final = 17

TD2_PEER_INDEX_TABLE: Final = PEER_INDEX_TABLE
TD2_RIB: Final = frozenset({2, 3, 4, 5})
TD2_RIB_ADDPATH: Final = frozenset({8, 9, 10, 11})
TD2_RIB_GENERIC: Final = frozenset({6, 12})
TD2_RIB_GENERIC_ADDPATH: Final = 12

BGP4MP_STATE: Final = frozenset({0, 5})
BGP4MP_MESSAGE: Final = frozenset({1, 4, 6, 7, 8, 9, 10, 11})
BGP4MP_ENTRY: Final = 2
BGP4MP_SNAPSHOT: Final = 3
BGP4MP_LOCAL: Final = frozenset({6, 7, 10, 11})
BGP4MP_ADDPATH: Final = frozenset({8, 9, 10, 11})
BGP4MP_TWO_BYTE_AS: Final = frozenset({1, 6, 8, 10})

BGP_UPDATE: Final = 2
MAX_MICROSECONDS: Final = 999_999
ROUTE_SAFIS: Final = frozenset({1, 2, 3})
"""Unicast, multicast, both: what bgpdump prints; VPN and other SAFIs are not routes here."""
ROUTE_AFIS: Final = frozenset({1, 2})

Row = dict[str, Any]

_NO_ROUTE: Final[Row] = {
    "prefix": None,
    "path_id": None,
    "as_path": None,
    "origin": None,
    "next_hop": None,
    "local_pref": None,
    "med": None,
    "atomic_aggregate": False,
    "aggregator": None,
    "old_state": None,
    "new_state": None,
    "originated_time": None,
    "only_to_customer": None,
    "aggregator_asn": None,
    "aggregator_ip": None,
}


def _code(d: Any) -> int:
    return int(next(iter(d)))


def _row(
    timestamp: int, mrt_type: str, entry_type: str, peer_ip: str, peer_asn: int, **cols: Any
) -> Row:
    row: Row = {
        "timestamp": timestamp,
        "mrt_type": mrt_type,
        "entry_type": entry_type,
        "peer_ip": peer_ip,
        "peer_asn": peer_asn,
        **_NO_ROUTE,
        "communities": [],
        "large_communities": [],
        "extended_communities": [],
        "other_attributes": [],
        "as_path_asns": [],
        "origin_asns": [],
    }
    row.update(cols)
    prefix = row["prefix"]
    row["ip_version"] = None if prefix is None else (6 if ":" in prefix else 4)
    return row


def _cidr(nlri: dict[str, Any]) -> str:
    return f"{nlri['prefix']}/{nlri['length']}"


def _micros(seconds: int, micros: int = 0) -> int:
    return seconds * 1_000_000 + micros


def _is_update(record: MrtRecord) -> bool:
    """Whether a BGP4MP message record holds a BGP UPDATE, read from the fixed offsets."""
    p = HEADER_LEN + (4 if record.type == BGP4MP_ET else 0)
    p += 4 if record.subtype in BGP4MP_TWO_BYTE_AS else 8  # peer AS, local AS
    if len(record.raw) < p + 4:
        return True  # too short to tell: let the decoder report it
    (afi,) = struct.unpack_from(">H", record.raw, p + 2)  # after the interface index
    p += 4 + (8 if afi == 1 else 32)  # ifindex, AFI, peer and local address
    p += 16 + 2  # marker, length
    return len(record.raw) <= p or record.raw[p] == BGP_UPDATE


class RowBuilder:
    """Turns records into rows; keeps the TABLE_DUMP_V2 peer index table between records.

    ``notes`` sums what the records it turned into rows had to have repaired (a record that
    raised adds nothing: it is counted as a drop by the caller).
    """

    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] | None = None
        self.notes = RecordNotes()
        self._record_notes = RecordNotes()  # the notes of the record being turned into rows

    def rows(self, record: MrtRecord) -> list[Row]:
        """The rows of one record; :class:`RecordDecodeError` if it cannot be decoded."""
        notes = self._record_notes = RecordNotes()
        rows = self._rows(record, notes)
        self.notes.masked_prefixes += notes.masked_prefixes
        self.notes.repairs.update(notes.repairs)
        return rows

    def _rows(self, record: MrtRecord, notes: RecordNotes) -> list[Row]:
        t, st = record.type, record.subtype
        if t == TABLE_DUMP_V2 and st in TD2_RIB_GENERIC:
            if len(record.raw) < HEADER_LEN + 7:
                raise RecordDecodeError("RIB_GENERIC record too short for its AFI and SAFI")
            afi, safi = struct.unpack_from(">HB", record.raw, HEADER_LEN + 4)
            if afi not in ROUTE_AFIS or safi not in ROUTE_SAFIS:
                return []  # VPN, flowspec, L2VPN...: not routes of this table (nor bgpdump's)
        if t in (BGP4MP, BGP4MP_ET) and st == BGP4MP_SNAPSHOT:
            raise RecordDecodeError("BGP4MP_SNAPSHOT not supported", DROP_UNSUPPORTED)
        if t == TABLE_DUMP_V2 and st == TD2_PEER_INDEX_TABLE:
            self.peers = decode_peer_index(record.raw[HEADER_LEN:])
            return []
        if t not in (TABLE_DUMP, TABLE_DUMP_V2, BGP4MP, BGP4MP_ET):
            return []  # OSPF, IS-IS and deprecated types carry no BGP routes (bgpdump agrees)
        if t in (BGP4MP, BGP4MP_ET) and st in BGP4MP_MESSAGE and not _is_update(record):
            return []  # OPEN, KEEPALIVE...: no routes, and mrtparse fails on some OPENs
        data = decode_record(record.raw, t, st, notes)
        try:
            if t == TABLE_DUMP:
                with noting(notes):
                    return self._table_dump(data)
            if t == TABLE_DUMP_V2:
                return self._table_dump_v2(data, st)
            return self._bgp4mp(data, t, st)
        except RecordDecodeError:
            raise
        except (KeyError, ValueError, TypeError, IndexError, StopIteration) as e:
            raise RecordDecodeError(f"{type(e).__name__}: {e}") from e

    def _attributes(self, attrs: list[dict[str, Any]], two_byte_as: bool) -> RouteAttributes:
        """:func:`parse_attributes`, its repeated attributes counted as the record's repairs."""
        ra = parse_attributes(attrs, two_byte_as=two_byte_as)
        if ra.repeated:
            self._record_notes.repairs[REPAIR_ATTRIBUTE_REPEATED] += ra.repeated
        return ra

    def _table_dump(self, d: dict[str, Any]) -> list[Row]:
        ra = self._attributes(d["path_attributes"], two_byte_as=True)
        prefix, plen = d["prefix"], int(d["length"])
        max_len = 128 if ":" in prefix else 32
        if plen <= max_len:  # the whole address is stored: mask its host bits (RFC 4271 §4.3)
            packed = ipaddress.ip_address(prefix).packed
            prefix = str(masked_network(packed, plen, max_len).network_address)
        next_hop = ra.mp_next_hop if ra.mp_reach is not None else ra.next_hop
        return [
            _row(
                _micros(_code(d["timestamp"])),
                "TABLE_DUMP",
                "B",
                d["peer_ip"],
                int(d["peer_as"]),
                prefix=f"{prefix}/{plen}",
                originated_time=_micros(_code(d["originated_time"])),
                **ra.columns(next_hop),
            )
        ]

    def _table_dump_v2(self, d: dict[str, Any], st: int) -> list[Row]:
        if st not in TD2_RIB and st not in TD2_RIB_ADDPATH and st not in TD2_RIB_GENERIC:
            return []
        if self.peers is None:
            raise RecordDecodeError("RIB entry before any PEER_INDEX_TABLE", DROP_NO_PEER_INDEX)
        addpath = st in TD2_RIB_ADDPATH or st == TD2_RIB_GENERIC_ADDPATH
        mrt_type = "TABLE_DUMP2_AP" if addpath else "TABLE_DUMP2"
        ts = _micros(_code(d["timestamp"]))
        prefix = f"{d['prefix']}/{d['length']}"
        rows = []
        for entry in d["rib_entries"]:
            index = entry["peer_index"]
            if index >= len(self.peers):  # that entry's peer is unknown, not the others'
                self._record_notes.repairs[REPAIR_PEER_MISSING] += 1
                continue
            peer_ip, peer_as = self.peers[index]
            ra = self._attributes(entry["path_attributes"], two_byte_as=False)
            next_hop = ra.mp_next_hop if ra.mp_reach is not None else ra.next_hop
            rows.append(
                _row(
                    ts,
                    mrt_type,
                    "B",
                    peer_ip,
                    peer_as,
                    prefix=prefix,
                    path_id=entry.get("path_id"),
                    originated_time=_micros(_code(entry["originated_time"])),
                    **ra.columns(next_hop),
                )
            )
        return rows

    def _bgp4mp(self, d: dict[str, Any], t: int, st: int) -> list[Row]:
        micros = int(d.get("microsecond_timestamp", 0))
        if micros > MAX_MICROSECONDS:  # no fraction of a second: keep the header's second
            self._record_notes.repairs[REPAIR_MICROSECONDS] += 1
            micros = 0
        ts = _micros(_code(d["timestamp"]), micros)
        et = "_ET" if t == BGP4MP_ET else ""
        if st in BGP4MP_STATE:
            return [
                _row(
                    ts,
                    f"BGP4MP{et}",
                    "STATE",
                    d["peer_ip"],
                    int(d["peer_as"]),
                    old_state=_code(d["old_state"]),
                    new_state=_code(d["new_state"]),
                )
            ]
        if st == BGP4MP_ENTRY:
            ra = self._attributes(d["path_attributes"], two_byte_as=True)
            return [
                _row(
                    ts,
                    "BGP4MP_ENTRY",
                    "B",
                    d["peer_ip"],
                    int(d["peer_as"]),
                    prefix=f"{d['prefix']}/{d['length_bits']}",
                    originated_time=_micros(_code(d["originated_time"])),
                    **ra.columns(d["next_hop"]),
                )
            ]
        if st not in BGP4MP_MESSAGE:
            return []
        msg = d["bgp_message"]
        if _code(msg["type"]) != BGP_UPDATE:
            return []  # OPEN, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH: no routes
        local = "_LOCAL" if st in BGP4MP_LOCAL else ""
        mrt_type = f"BGP4MP{et}{local}{'_AP' if st in BGP4MP_ADDPATH else ''}"
        # *_LOCAL (RFC 6396 §4.4.4, a message the collector sent): still the peer's fields,
        # as bgpdump 1.6.2 prints them (it garbles IPv4 ones: see docs/row-schema.md)
        peer_ip = d["peer_ip"]
        peer_as = int(d["peer_as"])
        ra = self._attributes(msg["path_attributes"], two_byte_as=st in BGP4MP_TWO_BYTE_AS)

        def withdrawn(nlri: dict[str, Any]) -> Row:
            return _row(
                ts, mrt_type, "W", peer_ip, peer_as, prefix=_cidr(nlri), path_id=nlri.get("path_id")
            )

        def announced(nlri: dict[str, Any], next_hop: str | None) -> Row:
            return _row(
                ts,
                mrt_type,
                "A",
                peer_ip,
                peer_as,
                prefix=_cidr(nlri),
                path_id=nlri.get("path_id"),
                **ra.columns(next_hop),
            )

        rows = [withdrawn(n) for n in msg["withdrawn_routes"]]
        for unreach in ra.mp_unreach:
            if "safi" in unreach and _code(unreach["safi"]) in ROUTE_SAFIS:
                rows.extend(withdrawn(n) for n in unreach.get("withdrawn_routes", []))
        rows.extend(announced(n, ra.next_hop) for n in msg["nlri"])
        reach = ra.mp_reach
        if reach is not None and "safi" in reach and _code(reach["safi"]) in ROUTE_SAFIS:
            rows.extend(announced(n, ra.mp_next_hop) for n in reach.get("nlri", []))
        return rows
