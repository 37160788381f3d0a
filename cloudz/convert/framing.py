"""Split a decompressed MRT stream into whole records, and say where and why it breaks.

mrtparse reads a file and gives up silently or raises at the first damage; framing the
records here (12-byte header: timestamp u32, type u16, subtype u16, length u32, all big
endian) lets every whole record before the damage be converted and the damage be reported
with its offset. The BGP4MP_ET microseconds are inside ``length``, so they need no care here.

Zeros are damage, not records: a header of zeros reads as type 0 (the deprecated NULL type,
which no writer emits), and a record whose body is empty or all zero bytes carries nothing (only
the deprecated START/DIE-era types could be empty; no collector of the archive writes them).
Counting them as records let 1 GiB of zeros pass as 89 million "records" without a row.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Protocol

from cloudz.convert.report import REST_UNREADABLE, Damage

HEADER: Final = struct.Struct(">IHHI")
HEADER_LEN: Final = HEADER.size
MAX_RECORD_LEN: Final = 64 << 20
"""Longer records are treated as damage: keeps memory bounded on garbage input."""

KNOWN_TYPES: Final = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 32, 33, 48, 49})
"""MRT types of RFC 6396 (including the deprecated ones, but not 0, the deprecated NULL type,
which is what zero-filled bytes read as); anything else means garbage."""

_REST: Final = REST_UNREADABLE


@dataclass(frozen=True, slots=True)
class MrtRecord:
    """One whole MRT record: ``raw`` is header plus body, ready for mrtparse."""

    index: int
    offset: int
    timestamp: int
    type: int
    subtype: int
    raw: bytes


class ByteStream(Protocol):
    """What the framing reads: a :class:`~cloudz.convert.decompress.DecompressedStream`, or
    the fast path's rest of one."""

    @property
    def kind(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def position(self) -> int: ...

    def read(self, n: int, /) -> bytes: ...


def _stream_note(stream: ByteStream) -> str:
    return f" ({stream.error})" if stream.error else ""


def _empty(stream: ByteStream) -> str:
    if stream.kind == "raw":
        return "empty file: no MRT records"
    return f"empty {stream.kind} stream: it decompressed to 0 bytes"


def _zero_filled(offset: int, mrt_type: int, length: int) -> str:
    """Why a record whose body is empty or zeros is damage."""
    where = "the first record" if offset == 0 else "zero-filled MRT record"
    if length == 0:
        return f"{where} at offset {offset} has type {mrt_type} and length 0: no body; {_REST}"
    return (
        f"{where} at offset {offset} has type {mrt_type} and a body of {length} zero bytes; {_REST}"
    )


def _unknown_type(offset: int, mrt_type: int, head: bytes) -> str:
    zeros = " (a header of zero bytes)" if not any(head) else ""
    if offset == 0:
        return f"the first record has MRT type {mrt_type} at offset 0: no such type{zeros}; {_REST}"
    return f"not an MRT record at offset {offset}: unknown type {mrt_type}{zeros}; {_REST}"


def read_records(stream: ByteStream, damage: list[Damage]) -> Iterator[MrtRecord]:
    """Yield the whole records of ``stream``; on damage append one :class:`Damage` and stop.

    Offsets are the stream's positions; indexes count from 0 where ``stream`` starts.
    """
    index = 0
    while True:
        offset = stream.position
        head = stream.read(HEADER_LEN)
        if not head:
            if stream.error:
                damage.append(Damage(offset, f"{stream.error} at offset {offset}; {_REST}", 1))
            elif offset == 0:
                damage.append(Damage(0, _empty(stream), 0))
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
            damage.append(Damage(offset, _unknown_type(offset, mrt_type, head), 1))
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
        if body.count(0) == length:  # empty, or nothing but zeros
            damage.append(Damage(offset, _zero_filled(offset, mrt_type, length), 1))
            return
        yield MrtRecord(index, offset, ts, mrt_type, subtype, head + body)
        index += 1
