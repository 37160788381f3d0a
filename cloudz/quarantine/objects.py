"""Where quarantined objects go, and the moves that take them there without losing a writer.

Quarantined bytes go to the **private working bucket** (``Settings.working_bucket``), under
``_quarantine/<archive path>/<sha256>/``: the raw file by its name, and each Avro part by its
own. Not the archive bucket: that one is public-read by one unconditioned binding (anyone can
list and read every object in it, docs/deploy.md), its months are listed by the reconcile and
the mirror, and ``<path>.avro*`` is a load's wildcard; bytes an operator has judged bad should
not stay published beside the archive. The working bucket is private (public access
prevention enforced), its ``_quarantine/`` prefix is in no lifecycle rule (only ``_incoming/``
and ``_claims/`` expire), and the path keeps every quarantined version apart by its sha256.

A move is a copy then a delete, each with a precondition, so a concurrent writer is never lost:

- the copy names the source generation (``if_source_generation_match``) and creates the
  destination only if absent (``if_generation_match=0``); it is then read back and compared
  (size and crc32c), because the local object store ignores ``if_generation_match=0`` on a
  rewrite (FIELD-NOTES §12);
- the delete names the generation that was copied (``if_generation_match``, and a read of
  the generation just before, since the local object store ignores the precondition on a
  delete too): an object replaced in between is left alone and the move stops with
  :class:`ObjectChanged`.

A destination that exists already is taken as done when it holds the same bytes (a move
interrupted after its copy), and refused otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc

from cloudz.archive import paths
from cloudz.archive.store import SHA256_METADATA_KEY

log = logging.getLogger(__name__)

PREFIX = "_quarantine/"


class ObjectChanged(RuntimeError):
    """The object is not the generation the move started from: someone wrote it since."""


def prefix_of(archive_path: str, sha256: str) -> str:
    """``_quarantine/<archive path>/<sha256>/``: one quarantined version's objects."""
    return f"{PREFIX}{archive_path}/{paths.check_sha256(sha256)}/"


def quarantine_name(archive_path: str, sha256: str, name: str) -> str:
    """Where object ``name`` (the raw file or one of its Avro parts) of that version goes."""
    return prefix_of(archive_path, sha256) + name.rsplit("/", 1)[-1]


def raw_name(archive_path: str, sha256: str) -> str:
    """The quarantined raw file of that version."""
    return quarantine_name(archive_path, sha256, archive_path)


def is_quarantined(work_bucket: Any, archive_path: str, sha256: str) -> bool:
    """Has an operator quarantined these bytes at this path? One metadata read."""
    return work_bucket.get_blob(raw_name(archive_path, sha256)) is not None


@dataclass(frozen=True)
class Moved:
    source: str
    destination: str
    generation: int


def _same_bytes(a: Any, b: Any) -> bool:
    return bool(a.size == b.size and a.crc32c and a.crc32c == b.crc32c)


def copy(source: Any, work_bucket: Any, destination: str) -> Any:
    """Copy ``source`` (a blob read with its generation) to ``destination`` in the working
    bucket, create-only; the destination blob, read back. Raises :class:`ObjectChanged` when
    the source is no longer that generation, or the destination holds other bytes."""
    found = work_bucket.get_blob(destination)
    if found is not None:
        if _same_bytes(found, source):
            return found
        raise ObjectChanged(
            f"gs://{work_bucket.name}/{destination} exists with other bytes "
            f"({found.size} bytes, crc32c {found.crc32c}) than {source.name} "
            f"({source.size} bytes, crc32c {source.crc32c}): left as they are"
        )
    target = work_bucket.blob(destination)
    target.metadata = {
        **(source.metadata or {}),
        "quarantined_from": f"gs://{source.bucket.name}/{source.name}",
        "source_generation": str(source.generation),
    }
    target.content_type = source.content_type or "application/octet-stream"
    token: str | None = None
    try:
        while True:
            token, _, _ = target.rewrite(
                source,
                token=token,
                if_generation_match=0,
                if_source_generation_match=source.generation,
            )
            if token is None:
                break
    except (gexc.PreconditionFailed, gexc.NotFound) as exc:
        # NotFound: the generation read is gone (a bucket without versioning, as the local one)
        raise ObjectChanged(
            f"{source.name} changed (or {destination} appeared) during the copy: {exc}"
        ) from exc
    stored = work_bucket.get_blob(destination)
    if stored is None or not _same_bytes(stored, source):
        raise ObjectChanged(f"gs://{work_bucket.name}/{destination} is not the copy just made")
    return stored


def delete_generation(blob: Any) -> bool:
    """Delete exactly the generation ``blob`` was read at; False when it is gone already.
    Raises :class:`ObjectChanged` when another generation is there now.

    GCS refuses the delete of another generation (``if_generation_match``); the local object
    store ignores that precondition on a delete (measured: fake-gcs-server 1.54 deleted the
    newer object), so the generation is also read just before: there, only a write between
    that read and the delete could be lost; on GCS none."""
    current = blob.bucket.get_blob(blob.name)
    if current is None:
        return False
    if int(current.generation or 0) != int(blob.generation or 0):
        raise ObjectChanged(
            f"{blob.name} is generation {current.generation}, not {blob.generation}: a writer "
            "replaced it, left as it is"
        )
    try:
        blob.bucket.blob(blob.name).delete(if_generation_match=blob.generation)
    except gexc.NotFound:
        return False
    except gexc.PreconditionFailed as exc:
        raise ObjectChanged(
            f"{blob.name} is no longer generation {blob.generation}: a writer replaced it, "
            "left as it is"
        ) from exc
    return True


def move(source: Any, work_bucket: Any, destination: str) -> Moved:
    """Copy, verify, then delete the copied generation of ``source``."""
    copy(source, work_bucket, destination)
    delete_generation(source)
    log.info("moved %s (generation %s) to %s", source.name, source.generation, destination)
    return Moved(source.name, destination, int(source.generation or 0))


def raw_sha256(blob: Any) -> str:
    """The sha256 the archive store wrote in the object's metadata ('' when none)."""
    return str((blob.metadata or {}).get(SHA256_METADATA_KEY, ""))
