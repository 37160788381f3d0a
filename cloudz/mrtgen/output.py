"""Write generated records to a raw, bz2 or gzip file, streaming (constant memory)."""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Literal, cast

from cloudz.mrtgen.records import GeneratedRecord

Compression = Literal["raw", "bz2", "gz"]
COMPRESSIONS: Final = ("raw", "bz2", "gz")


@dataclass(frozen=True)
class WriteResult:
    """What was written: records, converter rows, ``bgpdump -m`` lines, MRT bytes, and the
    prefixes written with host bits set."""

    records: int
    rows: int
    bgpdump_rows: int
    mrt_bytes: int
    host_bit_prefixes: int = 0


def compression_for(path: Path) -> Compression:
    """By suffix: ``.bz2``, ``.gz``, anything else raw."""
    if path.suffix == ".bz2":
        return "bz2"
    if path.suffix == ".gz":
        return "gz"
    return "raw"


def _open(stack: ExitStack, path: Path, compression: Compression) -> IO[bytes]:
    if compression == "bz2":
        return stack.enter_context(bz2.open(path, "wb", compresslevel=6))
    raw = stack.enter_context(path.open("wb"))
    if compression == "gz":
        # mtime=0 and no name: the same seed gives the same bytes, not just the same MRT
        gz = gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=0)
        return cast(IO[bytes], stack.enter_context(gz))
    return raw


def write_file(
    path: Path, records: Iterable[GeneratedRecord], compression: Compression | None = None
) -> WriteResult:
    """Write ``records`` to ``path`` (compression from the suffix unless given)."""
    n_records = rows = shown = size = host_bits = 0
    with ExitStack() as stack:
        f = _open(stack, path, compression or compression_for(path))
        for rec in records:
            f.write(rec.data)
            n_records += 1
            rows += rec.rows
            shown += rec.bgpdump_rows
            size += len(rec.data)
            host_bits += rec.host_bit_prefixes
    return WriteResult(n_records, rows, shown, size, host_bits)
