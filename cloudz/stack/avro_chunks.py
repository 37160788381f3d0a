"""Re-block an Avro object container file into uncompressed chunk files, streaming.

The BigQuery emulator's Avro load reads with DuckDB's ``read_avro``, which decodes rows in
C++ in bounded memory but knows only the ``null`` and ``deflate`` codecs, while the converter
writes ``zstandard`` (BigQuery reads all three). Rows are not decoded here: each block's bytes
are decompressed and written, with the same count and sync marker, into a ``null``-codec file
of at most ``chunk_bytes`` of row data, so memory and temporary disk stay bounded whatever the
object's size. Runs in the emulator's own interpreter (``.venv-bq``): standard library and
``backports.zstd`` only.

The format: Apache Avro 1.11 specification, "Object Container Files".
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True)
class Chunk:
    path: Path
    rows: int


def chunks(source: BinaryIO, directory: Path, chunk_bytes: int) -> Iterator[Chunk]:
    """Write ``source``'s blocks into ``null``-codec files of ~``chunk_bytes`` in ``directory``.

    A chunk is yielded once written; the caller deletes it when read. An empty container
    yields one chunk of no rows (its header alone), so the reader still learns the schema.
    """
    header = read_header(source)
    head = header.encoded("null")
    index = 0
    out: BinaryIO | None = None
    path = directory / "chunk-0.avro"
    rows = written = 0
    try:
        for count, data in blocks(source, header):
            if out is None:
                path = directory / f"chunk-{index}.avro"
                index += 1
                out = path.open("wb")
                out.write(head)
                rows = written = 0
            out.write(encode_long(count) + encode_long(len(data)))
            out.write(data)
            out.write(header.sync)
            rows += count
            written += len(data)
            if written >= chunk_bytes:
                out.close()
                out = None
                yield Chunk(path, rows)
        if out is not None:
            out.close()
            out = None
            yield Chunk(path, rows)
        elif index == 0:
            path.write_bytes(head)
            yield Chunk(path, 0)
    finally:
        if out is not None:
            out.close()
