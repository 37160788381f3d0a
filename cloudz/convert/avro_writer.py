"""Write rows to an Avro object container file atomically (temp name, then rename)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import fastavro

CODEC: Final = "deflate"


def write_avro_atomically(
    dst: Path, schema: dict[str, Any], rows: Iterable[dict[str, Any]]
) -> None:
    """Stream ``rows`` into ``dst``: a crash leaves the old ``dst`` (or none), never half a file.

    fastavro consumes the iterable block by block, so rows are never all in memory.
    """
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            fastavro.writer(f, schema, rows, codec=CODEC, validator=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
