"""Split a decompressed MRT stream into whole records, and say where and why it breaks.

mrtparse reads a file and gives up silently or raises at the first damage; framing the
records here (12-byte header: timestamp u32, type u16, subtype u16, length u32, all big
endian) lets every whole record before the damage be converted and the damage be reported
with its offset. The BGP4MP_ET microseconds are inside ``length``, so they need no care here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from cloudz.convert.decompress import DecompressedStream
from cloudz.convert.report import Damage

HEADER: Final = struct.Struct(">IHHI")
HEADER_LEN: Final = HEADER.size
MAX_RECORD_LEN: Final = 64 << 20
"""Longer records are treated as damage: keeps memory bounded on garbage input."""

KNOWN_TYPES: Final = frozenset(
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 32, 33, 48, 49}
)
"""MRT types of RFC 6396 (including the deprecated ones); anything else means garbage."""

_REST: Final = "rest of file unreadable"


@dataclass(frozen=True, slots=True)
class MrtRecord:
    """One whole MRT record: ``raw`` is header plus body, ready for mrtparse."""

    index: int
    offset: int
    timestamp: int
    type: int
    subtype: int
    raw: bytes


def _stream_note(stream: DecompressedStream) -> str:
    return f" ({stream.error})" if stream.error else ""


def read_records(stream: DecompressedStream, damage: list[Damage]) -> Iterator[MrtRecord]:
    """Yield the whole records of ``stream``; on damage append one :class:`Damage` and stop."""
    index = 0
    while True:
        offset = stream.position
        head = stream.read(HEADER_LEN)
        if not head:
            if stream.error:
                damage.append(Damage(offset, f"{stream.error} at offset {offset}; {_REST}", 1))
            elif offset == 0:
                damage.append(Damage(0, "empty file: no MRT records", 0))
            return
        if len(head) < HEADER_LEN:
            damage.append(
                Damage(
                    offset,
                    f"truncated MRT header at offset {offset}: {len(head)} of {HEADER_LEN} "
                    f"bytes{_stream_note(stream)}",
                    1,
                )
            )
            return
        ts, mrt_type, subtype, length = HEADER.unpack(head)
        if mrt_type not in KNOWN_TYPES:
            damage.append(
                Damage(
                    offset,
                    f"not an MRT record at offset {offset}: unknown type {mrt_type}; {_REST}",
                    1,
                )
            )
            return
        if length > MAX_RECORD_LEN:
            damage.append(
                Damage(
                    offset,
                    f"record length {length} at offset {offset} exceeds the "
                    f"{MAX_RECORD_LEN} byte limit; {_REST}",
                    1,
                )
            )
            return
        body = stream.read(length)
        if len(body) < length:
            damage.append(
                Damage(
                    offset,
                    f"record length {length} exceeds remaining bytes: truncated MRT record at "
                    f"offset {offset}: {len(body)} of {length} body bytes"
                    f"{_stream_note(stream)}",
                    1,
                )
            )
            return
        yield MrtRecord(index, offset, ts, mrt_type, subtype, head + body)
        index += 1
