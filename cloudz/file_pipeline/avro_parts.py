"""A file's converted rows in the bucket as Avro parts of at most ``Settings.avro_part_mb``.

fake-gcs-server (the local stack's object store) holds an object it is writing in memory,
~3.5-4.7x its size at the peak (docs/stack.md), so one ~700 MB Avro object of a 50M-row RIB
made it peak near 4 GB. The convert step therefore splits the converter's local file at block
boundaries into parts, each a whole Avro object container file (the same header, schema and
sync marker: a researcher can read any part alone), and uploads them in order:
``<archive path>.avro`` (part 0: a file of one part is exactly the object of before), then
``<archive path>.avro-0001.avro`` ... (:mod:`cloudz.archive.paths`). A load names them all with
one wildcard, ``<archive path>.avro*``: still one load job per file. No row is decoded, and
memory holds one block; the disk one part beside the converter's file.

After the upload, every other object under ``<archive path>.avro`` (the parts an earlier,
longer conversion of the same file left) is deleted, so the wildcard never reads a row twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudz.archive import paths
from cloudz.avro_container import encode_long, raw_blocks, read_header

log = logging.getLogger(__name__)

MIB = 1 << 20


def split(avro: Path, part_bytes: int) -> Generator[Path]:
    """The parts of ``avro``, in order, each at most ``part_bytes`` long (header included).

    A file that fits is its own single part (no copy). Otherwise each part is written next
    to ``avro`` and deleted when the caller asks for the next one (or stops): one part on disk
    at a time. A part ends at a block boundary; a single block longer than ``part_bytes``
    (the converter's blocks are ~2 MiB of rows before compression, so only with a tiny cap)
    goes into a part of its own, which is then longer than the cap.
    """
    if part_bytes <= 0:
        raise ValueError(f"part size {part_bytes} <= 0")
    if avro.stat().st_size <= part_bytes:
        yield avro
        return
    with avro.open("rb") as source:
        header = read_header(source)
        head_size = source.tell()
        source.seek(0)
        head = source.read(head_size)  # copied as it is: every part gets the same header
        part: Any = None
        path = avro.with_name(f".{avro.name}.part")
        size = 0
        try:
            for count, data in raw_blocks(source, header):
                block = (encode_long(count), encode_long(len(data)), data, header.sync)
                block_size = sum(map(len, block))
                if part is not None and size + block_size > part_bytes:
                    part.close()
                    part = None
                    yield path
                if part is None:
                    path.unlink(missing_ok=True)
                    part = path.open("wb")
                    part.write(head)
                    size = head_size
                for piece in block:
                    part.write(piece)
                size += block_size
            if part is None:  # no block: only when the header alone is longer than the cap
                part = path.open("wb")
                part.write(head)
            part.close()
            part = None
            yield path
        finally:
            if part is not None:
                part.close()
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Published:
    """What the convert task reports about the parts it wrote."""

    first: Any  # part 0's blob (its generation)
    parts: int
    written_at: str | None  # when the last part was written: a load job created later read them
    removed: list[str]

    def report(self, bucket: str, archive_path: str) -> dict[str, Any]:
        return {
            "avro_object": paths.avro_part_name(archive_path, 0),
            "avro_parts": self.parts,
            "avro_source": paths.avro_pattern(archive_path),
            "avro_uri": paths.avro_source_uri(bucket, archive_path),
            "avro_generation": int(self.first.generation or 0),
            "avro_written_at": self.written_at,
        }


def part_bytes_setting() -> int:
    """``CLOUDZ_AVRO_PART_MB`` in bytes."""
    from cloudz.settings import Settings

    mb = Settings.from_env().avro_part_mb
    if mb < 1:
        raise ValueError(f"CLOUDZ_AVRO_PART_MB={mb}: a part holds at least 1 MiB")
    return mb * MIB


def publish(bucket: Any, archive_path: str, avro: Path, part_bytes: int) -> Published:
    """Upload ``avro`` as the parts of ``archive_path``'s rows, in order, then delete every
    other object the load's wildcard would read (stale parts of a longer conversion)."""
    names: list[str] = []
    first = last = None
    for n, part in enumerate(split(avro, part_bytes)):
        blob = bucket.blob(paths.avro_part_name(archive_path, n))
        blob.upload_from_filename(str(part), content_type="application/avro")
        names.append(blob.name)
        first = first or blob
        last = blob
        log.info("%s: part %d, %d bytes", blob.name, n, os.path.getsize(part))
    assert first is not None and last is not None  # split yields at least one part
    removed = remove_stale(bucket, archive_path, set(names))
    written = last.time_created.isoformat() if last.time_created else None
    return Published(first=first, parts=len(names), written_at=written, removed=removed)


def remove_stale(bucket: Any, archive_path: str, keep: set[str]) -> list[str]:
    """Delete the objects under ``<archive path>.avro`` not in ``keep``; their names."""
    from google.api_core.exceptions import NotFound

    prefix = paths.avro_part_name(archive_path, 0)
    removed = []
    for blob in bucket.list_blobs(prefix=prefix, fields="items(name),nextPageToken"):
        if blob.name in keep:
            continue
        source = paths.derived_source(blob.name)
        if source is None or source[0] != archive_path:
            # not a part name: nothing the pipeline writes, but the load's wildcard reads it
            log.warning("%s is under the wildcard of %s's rows: deleting it", blob.name, prefix)
        with contextlib.suppress(NotFound):  # another conversion of the file removed it
            bucket.blob(blob.name).delete()
        removed.append(blob.name)
    if removed:
        log.info("removed %d stale objects under %s: %s", len(removed), prefix, removed)
    return sorted(removed)
