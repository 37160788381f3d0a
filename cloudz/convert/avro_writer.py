"""Write rows to an Avro object container file atomically (temp name, then rename)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final

CODEC: Final = "deflate"


@contextlib.contextmanager
def atomic_output(dst: Path) -> Iterator[BinaryIO]:
    """A file that becomes ``dst`` only when the block ends without error (fsync, then rename):
    a crash leaves the old ``dst`` (or none), never half a file."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_avro_atomically(
    dst: Path, schema: dict[str, Any], rows: Iterable[dict[str, Any]]
) -> None:
    """Stream ``rows`` into ``dst`` atomically.

    fastavro consumes the iterable block by block, so rows are never all in memory.
    """
    import fastavro  # here, not at the top: the compiled path uses only atomic_output

    with atomic_output(dst) as f:
        fastavro.writer(f, schema, rows, codec=CODEC, validator=False)
