"""Re-block an Avro object container file into uncompressed chunks, streaming.

The BigQuery emulator's Avro load decodes with polars, which decodes rows in native code but
knows only the ``null``, ``deflate`` and ``snappy`` codecs, while the converter writes
``zstandard`` (BigQuery reads it). Rows are not decoded here: each block's bytes are
decompressed and appended, with the same count and sync marker, to a ``null``-codec container
of about ``chunk_bytes`` of row data, so memory stays bounded whatever the object's size.
Runs in the emulator's own interpreter (``.venv-bq``): standard library and
``backports.zstd`` only.

The format: Apache Avro 1.11 specification, "Object Container Files".
"""

from __future__ import annotations

import zlib
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


def _read_exact(source: BinaryIO, size: int) -> bytes:
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
    if source.read(4) != MAGIC:
        raise AvroContainerError("not an Avro object container file (no 'Obj\\x01' magic)")
    metadata: dict[str, bytes] = {}
    while (count := _long(source)) != 0:
        if count < 0:  # a negative count is followed by the block's size in bytes
            _long(source)
            count = -count
        for _ in range(count):
            key = _read_exact(source, _long(source)).decode()
            metadata[key] = _read_exact(source, _long(source))
    header = Header(metadata, _read_exact(source, SYNC_SIZE))
    if header.codec not in _DECOMPRESSORS:
        raise AvroContainerError(f"codec {header.codec!r} is not one BigQuery reads here")
    return header


def _zstd(data: bytes) -> bytes:
    from backports import zstd  # the emulator's venv has it (fastavro uses it too)

    return zstd.decompress(data)


def _deflate(data: bytes) -> bytes:
    return zlib.decompress(data, -15)  # raw deflate (RFC 1951), as the specification says


def _null(data: bytes) -> bytes:
    return data


_DECOMPRESSORS = {"null": _null, "deflate": _deflate, "zstandard": _zstd}


def blocks(source: BinaryIO, header: Header) -> Iterator[tuple[int, bytes]]:
    """Each block's row count and uncompressed bytes, checking every sync marker."""
    decompress = _DECOMPRESSORS[header.codec]
    while (count := read_long(source)) is not None:
        size = _long(source)
        if count < 0 or size < 0 or size > MAX_BLOCK_BYTES:
            raise AvroContainerError(f"a block of {count} rows in {size} bytes")
        data = _read_exact(source, size)
        if _read_exact(source, SYNC_SIZE) != header.sync:
            raise AvroContainerError("a block's sync marker differs from the header's")
        try:
            yield count, decompress(data)
        except (zlib.error, ValueError) as error:
            if isinstance(error, AvroContainerError):
                raise
            raise AvroContainerError(
                f"a {header.codec} block does not decompress: {error}"
            ) from error


def buffers(source: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """``source`` as ``null``-codec containers of ~``chunk_bytes`` of row data each, in memory.

    Every block keeps its row count and sync marker. An empty container gives one buffer of
    its header alone, so the reader still learns the schema.
    """
    header = read_header(source)
    head = header.encoded("null")
    out = bytearray()
    written = 0
    for count, data in blocks(source, header):
        if not out:
            out += head
            written = 0
        out += encode_long(count)
        out += encode_long(len(data))
        out += data
        out += header.sync
        written += len(data)
        if written >= chunk_bytes:
            yield bytes(out)
            out.clear()
    if out:
        yield bytes(out)
    elif not written:
        yield head
