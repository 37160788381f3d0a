"""Read the framing of an Avro object container file: header, blocks, sync markers.

No row is decoded and no block decompressed here: the callers copy blocks whole (the
convert step's parts, :mod:`cloudz.file_pipeline.avro_parts`) or decompress them
(the BigQuery emulator's re-blocking, :mod:`cloudz.stack.avro_chunks`, which runs in the
emulator's own interpreter: this module uses the standard library only).

The format: Apache Avro 1.11 specification, "Object Container Files": the magic
``Obj\\x01``, a metadata map (``avro.schema``, ``avro.codec``), a 16-byte sync marker, then
blocks, each a row count, a byte size, that many bytes (the rows, compressed by the codec)
and the sync marker again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAGIC = b"Obj\x01"
SYNC_SIZE = 16
#: a block larger than this is refused: the converter writes ~2 MiB blocks, BigQuery's own
#: limit on an Avro block is 16 MB; a larger one is damage or an attack on memory
MAX_BLOCK_BYTES = 64 << 20


class AvroContainerError(ValueError):
    """The bytes are not a readable Avro object container file."""


def read_exact(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise AvroContainerError(f"truncated: wanted {size} bytes, got {len(data)}")
    return data


def read_long(source: BinaryIO) -> int | None:
    """A zig-zag varint; ``None`` at a clean end of input (before its first byte)."""
    shift = result = 0
    while True:
        byte = source.read(1)
        if not byte:
            if shift:
                raise AvroContainerError("truncated: a varint ends early")
            return None
        value = byte[0]
        result |= (value & 0x7F) << shift
        if not value & 0x80:
            return (result >> 1) ^ -(result & 1)
        shift += 7
        if shift > 63:
            raise AvroContainerError("a varint longer than 64 bits")


def _long(source: BinaryIO) -> int:
    value = read_long(source)
    if value is None:
        raise AvroContainerError("truncated: a varint is missing")
    return value


def encode_long(value: int) -> bytes:
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zigzag & ~0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


@dataclass(frozen=True)
class Header:
    metadata: dict[str, bytes]
    sync: bytes

    @property
    def codec(self) -> str:
        return self.metadata.get("avro.codec", b"null").decode()

    def encoded(self, codec: str) -> bytes:
        """This header with ``avro.codec`` replaced: the start of a re-blocked file."""
        metadata = {**self.metadata, "avro.codec": codec.encode()}
        out = bytearray(MAGIC)
        out += encode_long(len(metadata))
        for key, value in metadata.items():
            raw = key.encode()
            out += encode_long(len(raw)) + raw + encode_long(len(value)) + value
        out += encode_long(0) + self.sync
        return bytes(out)


def read_header(source: BinaryIO) -> Header:
    """The header; ``source`` is left at the first block. Any codec (the caller checks)."""
    if source.read(4) != MAGIC:
        raise AvroContainerError("not an Avro object container file (no 'Obj\\x01' magic)")
    metadata: dict[str, bytes] = {}
    while (count := _long(source)) != 0:
        if count < 0:  # a negative count is followed by the block's size in bytes
            _long(source)
            count = -count
        for _ in range(count):
            key = read_exact(source, _long(source)).decode()
            metadata[key] = read_exact(source, _long(source))
    return Header(metadata, read_exact(source, SYNC_SIZE))


def raw_blocks(source: BinaryIO, header: Header) -> Iterator[tuple[int, bytes]]:
    """Each block's row count and its bytes as stored (compressed), checking every sync
    marker; one block in memory at a time."""
    while (count := read_long(source)) is not None:
        size = _long(source)
        if count < 0 or size < 0 or size > MAX_BLOCK_BYTES:
            raise AvroContainerError(f"a block of {count} rows in {size} bytes")
        data = read_exact(source, size)
        if read_exact(source, SYNC_SIZE) != header.sync:
            raise AvroContainerError("a block's sync marker differs from the header's")
        yield count, data
