"""Re-block an Avro object container file into uncompressed chunks, streaming.

The BigQuery emulator's Avro load decodes with polars, which decodes rows in native code but
knows only the ``null``, ``deflate`` and ``snappy`` codecs, while the converter writes
``zstandard`` (BigQuery reads it). Rows are not decoded here: each block's bytes are
decompressed and appended, with the same count and sync marker, to a ``null``-codec container
of about ``chunk_bytes`` of row data, so memory stays bounded whatever the object's size.
Runs in the emulator's own interpreter (``.venv-bq``): standard library, ``backports.zstd``
and the container framing of :mod:`cloudz.avro_container` only.

The format: Apache Avro 1.11 specification, "Object Container Files".
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO

from cloudz import avro_container as container
from cloudz.avro_container import AvroContainerError, Header, encode_long, read_long

__all__ = ["AvroContainerError", "blocks", "buffers", "encode_long", "read_header", "read_long"]


def read_header(source: BinaryIO) -> Header:
    """The header, refused unless its codec is one decompressed here."""
    header = container.read_header(source)
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
    for count, data in container.raw_blocks(source, header):
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
