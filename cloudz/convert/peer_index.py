"""TABLE_DUMP_V2 PEER_INDEX_TABLE (RFC 6396 §4.3.1): the peers later RIB entries point to.

Read with ``struct`` for both engines: it is the one record of a RIB the compiled path hands
back, and reading it here spares that path the mrtparse import (most of a small file's time).
The reading is mrtparse's (the fields in order, bytes after the last peer ignored, a field cut
short an error) but for the view name, which is skipped, not decoded: mrtparse failed on a name
that is not UTF-8 and so dropped the table and every RIB entry after it, while the name says
nothing about any route (bgpdump ignores it too).
"""

from __future__ import annotations

import socket
import struct
from typing import Final

from cloudz.convert.drops import RecordDecodeError

TABLE_DUMP_V2: Final = 13
PEER_INDEX_TABLE: Final = 1
_IPV6: Final = 0x01
_AS4: Final = 0x02

Peer = tuple[str, int]
"""(peer IP as text, peer AS)"""


def decode_peer_index(body: bytes) -> list[Peer]:
    """The peers of a PEER_INDEX_TABLE record's body (after the MRT header);
    :class:`RecordDecodeError` if a field runs past its end."""
    try:
        (name_len,) = struct.unpack_from(">H", body, 4)  # after the collector's BGP ID
        p = 6 + name_len
        (count,) = struct.unpack_from(">H", body, p)
        p += 2
        peers: list[Peer] = []
        for _ in range(count):
            kind = body[p]
            p += 5  # type, peer BGP ID
            ip_len = 16 if kind & _IPV6 else 4
            ip = body[p : p + ip_len]
            if len(ip) < ip_len:
                raise IndexError
            p += ip_len
            if kind & _AS4:
                (asn,) = struct.unpack_from(">I", body, p)
                p += 4
            else:
                (asn,) = struct.unpack_from(">H", body, p)
                p += 2
            family = socket.AF_INET6 if ip_len == 16 else socket.AF_INET
            peers.append((socket.inet_ntop(family, ip), asn))
    except (struct.error, IndexError) as e:
        raise RecordDecodeError(f"PEER_INDEX_TABLE cut short at byte {len(body)}") from e
    return peers
