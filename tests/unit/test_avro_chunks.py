"""Re-blocking an Avro container into uncompressed chunks keeps every row, in order.

The BigQuery emulator's load (``cloudz.stack.bigquery_emulator_load``) decodes these chunks with
polars; here fastavro, an independent reader, reads them back.
"""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest

from cloudz.stack.avro_chunks import AvroContainerError, buffers, encode_long, read_long

SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "i", "type": "long"},
            {"name": "s", "type": ["null", "string"]},
            {"name": "a", "type": {"type": "array", "items": "string"}},
        ],
    }
)


def container(rows: list[dict[str, Any]], codec: str, sync_interval: int = 2000) -> bytes:
    out = io.BytesIO()
    fastavro.writer(out, SCHEMA, rows, codec=codec, sync_interval=sync_interval)
    return out.getvalue()


def rows_of(n: int) -> list[dict[str, Any]]:
    return [
        {"i": i, "s": None if i % 7 else f"s{i}" * 5, "a": [str(i)] * (i % 4)} for i in range(n)
    ]


def read_chunks(data: bytes, chunk_bytes: int) -> tuple[list[Any], list[int]]:
    got: list[Any] = []
    counts = []
    for buffer in buffers(io.BytesIO(data), chunk_bytes):
        reader = fastavro.reader(io.BytesIO(buffer))
        assert reader.metadata["avro.codec"] == "null"
        rows = list(reader)
        counts.append(len(rows))
        got += rows
    return got, counts


@pytest.mark.parametrize("codec", ["null", "deflate", "zstandard"])
def test_every_row_comes_back_in_order_over_many_chunks(codec: str) -> None:
    rows = rows_of(20_000)
    got, counts = read_chunks(container(rows, codec), chunk_bytes=16_000)
    assert got == rows
    assert len(counts) > 5, "the chunk size bounds each chunk"


def test_one_chunk_when_the_limit_is_large() -> None:
    rows = rows_of(3000)
    got, counts = read_chunks(container(rows, "zstandard"), chunk_bytes=1 << 30)
    assert got == rows and counts == [3000]


def test_an_empty_container_gives_one_empty_chunk_with_the_schema() -> None:
    got, counts = read_chunks(container([], "zstandard"), chunk_bytes=1 << 20)
    assert got == [] and counts == [0]


def test_damage_is_an_error_not_fewer_rows() -> None:
    data = container(rows_of(5000), "deflate", sync_interval=500)
    with pytest.raises(AvroContainerError, match="truncated"):
        read_chunks(data[: len(data) - 40], 1 << 20)
    sync = data[-16:]
    broken = data[:-16] + bytes(b ^ 0xFF for b in sync)
    with pytest.raises(AvroContainerError, match="sync marker"):
        read_chunks(broken, 1 << 20)
    with pytest.raises(AvroContainerError, match="magic"):
        read_chunks(b"PAR1" + data[4:], 1 << 20)


def test_a_codec_duckdb_and_this_reader_lack_is_refused() -> None:
    data = container(rows_of(10), "null").replace(b"\x08null", b"\x0cbzip2x", 1)
    with pytest.raises(AvroContainerError):
        read_chunks(data, 1 << 20)


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 2**31, -(2**40), 2**62])
def test_varints_round_trip(value: int) -> None:
    assert read_long(io.BytesIO(encode_long(value))) == value
