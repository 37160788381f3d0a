"""MRT record and BGP message framing, and NLRI encoding (RFC 6396, RFC 4271, RFC 7911).

Everything here writes bytes exactly as the RFCs lay them out; what the bytes *mean* as rows is
decided by the modules that call these functions.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Any, Final

Row = dict[str, Any]

TABLE_DUMP_V2: Final = 13
BGP4MP: Final = 16
BGP4MP_ET: Final = 17

AFI_IPV4: Final = 1
AFI_IPV6: Final = 2

BGP_MARKER: Final = b"\xff" * 16
BGP_UPDATE: Final = 2
BGP_KEEPALIVE: Final = 4
BGP_MAX_MESSAGE: Final = 4096
"""RFC 4271 §4: a BGP message is at most 4096 bytes (RFC 8654 raises it only when negotiated)."""


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    """One MRT record as written: ``rows`` is the number of rows the converter writes for it,
    ``bgpdump_rows`` the number of lines ``bgpdump -m`` prints (0 for the multicast RIB records
    bgpdump 1.6.2 skips, else ``rows``); ``expected`` the converter's rows (without the
    per-file columns) when they were asked for."""

    data: bytes
    rows: int
    expected: list[Row] | None
    bgpdump_rows: int
    host_bit_prefixes: int = 0
    """Prefixes written with host bits set (the rows hold them masked, RFC 4271 §4.3)."""


def with_host_bit(network: str, length: int) -> str:
    """``network`` with the lowest bit of its last prefix byte set: a host bit when ``length``
    is not a multiple of 8 ("11.8.0.0"/13 -> "11.9.0.0", written as 11.9/13)."""
    addr = ipaddress.ip_address(network)
    bits = addr.max_prefixlen
    if length % 8 == 0:
        raise ValueError(f"/{length} has no host bits in its last byte")
    value = int(addr) | 1 << (bits - 8 * ((length + 7) // 8))
    return str(ipaddress.ip_address(value)) if bits == 32 else ipv6_text(value)


def masked_prefix(network: str, length: int) -> str:
    """The row's text of a prefix: host bits cleared."""
    net = ipaddress.ip_network((network, length), strict=False)
    text = ipv6_text(int(net.network_address)) if net.version == 6 else str(net.network_address)
    return f"{text}/{length}"


def mrt_record(timestamp: int, mrt_type: int, subtype: int, body: bytes) -> bytes:
    """RFC 6396 §2: timestamp, type, subtype, length (of the body) then the body."""
    return struct.pack(">IHHI", timestamp, mrt_type, subtype, len(body)) + body


def mrt_record_et(timestamp: int, micros: int, mrt_type: int, subtype: int, body: bytes) -> bytes:
    """RFC 6396 §3: the extended-timestamp header; its length field counts the microseconds."""
    return struct.pack(">IHHII", timestamp, mrt_type, subtype, len(body) + 4, micros) + body


def ip_bytes(addr: str) -> bytes:
    """The 4 or 16 network-order bytes of an address."""
    return ipaddress.ip_address(addr).packed


def ipv6_text(value: int) -> str:
    """RFC 5952 text as glibc ``inet_ntop`` (and so mrtparse and the converter) writes it.

    bgpdump 1.6.2 differs: it also shortens a single zero group to "::" (docs/row-schema.md).
    """
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def afi_of(addr: str) -> int:
    return AFI_IPV6 if ":" in addr else AFI_IPV4


def prefix_bytes(network: str, length: int) -> bytes:
    """RFC 4271 §4.3: length in bits, then the minimum number of octets of the prefix."""
    return bytes([length]) + ipaddress.ip_address(network).packed[: (length + 7) // 8]


def nlri(prefixes: list[tuple[str, int, int | None]]) -> bytes:
    """An NLRI field; a path id (RFC 7911 §3) precedes each prefix when it is not None."""
    out = bytearray()
    for network, length, path_id in prefixes:
        if path_id is not None:
            out += struct.pack(">I", path_id)
        out += prefix_bytes(network, length)
    return bytes(out)


def bgp_message(msg_type: int, body: bytes) -> bytes:
    """RFC 4271 §4.1: marker, length (header included), type."""
    length = 19 + len(body)
    if length > BGP_MAX_MESSAGE:
        raise ValueError(f"BGP message of {length} bytes exceeds {BGP_MAX_MESSAGE}")
    return BGP_MARKER + struct.pack(">HB", length, msg_type) + body


def bgp_update(withdrawn: bytes, attributes: bytes, announced: bytes) -> bytes:
    """RFC 4271 §4.3: withdrawn routes length and routes, attributes length and attributes,
    then NLRI (which takes the rest of the message)."""
    body = struct.pack(">H", len(withdrawn)) + withdrawn
    body += struct.pack(">H", len(attributes)) + attributes + announced
    return bgp_message(BGP_UPDATE, body)


def bgp4mp_peer_header(
    peer_as: int, local_as: int, as4: bool, peer_ip: str, local_ip: str, ifindex: int = 0
) -> bytes:
    """RFC 6396 §4.4.1-4.4.3: peer AS, local AS (2 or 4 bytes), interface, AFI, addresses."""
    fmt = ">II" if as4 else ">HH"
    head = struct.pack(fmt, peer_as, local_as)
    return (
        head + struct.pack(">HH", ifindex, afi_of(peer_ip)) + ip_bytes(peer_ip) + ip_bytes(local_ip)
    )


def base_row(timestamp_us: int, mrt_type: str, entry_type: str, peer_ip: str, peer_asn: int) -> Row:
    """A row with every column at its "absent" value (docs/row-schema.md): null, [] or false."""
    return {
        "timestamp": timestamp_us,
        "mrt_type": mrt_type,
        "entry_type": entry_type,
        "peer_ip": peer_ip,
        "peer_asn": peer_asn,
        "prefix": None,
        "path_id": None,
        "as_path": None,
        "origin": None,
        "next_hop": None,
        "local_pref": None,
        "med": None,
        "atomic_aggregate": False,
        "aggregator": None,
        "communities": [],
        "large_communities": [],
        "extended_communities": [],
        "old_state": None,
        "new_state": None,
        "originated_time": None,
        "only_to_customer": None,
        "other_attributes": [],
        "as_path_asns": [],
        "origin_asns": [],
        "aggregator_asn": None,
        "aggregator_ip": None,
        "ip_version": None,
    }


def ip_version(prefix: str) -> int:
    """The row's ``ip_version`` of a prefix text: 4 or 6."""
    return ipaddress.ip_network(prefix, strict=False).version
