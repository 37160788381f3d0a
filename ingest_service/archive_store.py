"""The archive bucket as the receiver writes it: streamed, verified, never overwritten.

Bytes go to a private staging object under ``_incoming/`` while they are
hashed; only when size and sha256 match the header is the staging object
copied to its archive path, with ``if_generation_match=0`` so GCS itself
refuses to replace an existing object. A mismatch or an aborted stream
deletes the staging object: nothing ever appears at the archive path.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import google.auth.exceptions
import requests
from google.api_core import exceptions as gexc
from google.cloud import storage
from google.cloud.storage import exceptions as storage_errors

#: what a failing bucket raises: API errors, and transport errors below them
STORE_ERRORS: tuple[type[Exception], ...] = (
    gexc.GoogleAPIError,
    storage_errors.InvalidResponse,
    storage_errors.DataCorruption,
    requests.exceptions.RequestException,
    google.auth.exceptions.TransportError,
)

log = logging.getLogger(__name__)

STAGING_PREFIX = "_incoming/"
#: resumable upload chunk: the most the receiver buffers per upload
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
SHA256_METADATA_KEY = "sha256"


class StoreResult(enum.Enum):
    STORED = "stored"
    ALREADY_ARCHIVED = "already_archived"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class ArchivedObject:
    """What the bucket holds at an archive path."""

    path: str
    sha256: str
    size: int
    generation: int


@dataclass(frozen=True)
class StoreOutcome:
    result: StoreResult
    archived: ArchivedObject


class ContentMismatch(ValueError):
    """The streamed bytes do not match the header; nothing was stored."""


class ArchiveStore:
    """Reads and writes archive objects in one bucket."""

    def __init__(self, client: storage.Client, bucket: str) -> None:
        self._bucket = client.bucket(bucket)
        self.bucket_name = bucket

    def uri(self, path: str) -> str:
        return f"gs://{self.bucket_name}/{path}"

    def stat(self, path: str) -> ArchivedObject | None:
        blob = self._bucket.get_blob(path)
        if blob is None:
            return None
        return ArchivedObject(
            path=path,
            sha256=(blob.metadata or {}).get(SHA256_METADATA_KEY, ""),
            size=int(blob.size or 0),
            generation=int(blob.generation or 0),
        )

    def _classify(self, path: str, sha256: str) -> StoreOutcome | None:
        existing = self.stat(path)
        if existing is None:
            return None
        if existing.sha256 == sha256:
            return StoreOutcome(StoreResult.ALREADY_ARCHIVED, existing)
        return StoreOutcome(StoreResult.CONFLICT, existing)

    def existing(self, path: str, sha256: str) -> StoreOutcome | None:
        """``ALREADY_ARCHIVED`` or ``CONFLICT`` if something is at ``path``, else ``None``."""
        return self._classify(path, sha256)

    def store(self, path: str, sha256: str, size: int, chunks: Iterable[bytes]) -> StoreOutcome:
        """Stream ``chunks`` to ``path`` if and only if they hash to ``sha256`` and ``size``.

        Raises ``ContentMismatch`` when they don't; any exception from ``chunks``
        (an aborted client stream) propagates after the staging object is removed.
        """
        staging = self._bucket.blob(f"{STAGING_PREFIX}{uuid.uuid4().hex}")
        digest = hashlib.sha256()
        received = 0
        try:
            with staging.open("wb", chunk_size=UPLOAD_CHUNK_BYTES, ignore_flush=True) as out:
                for chunk in chunks:
                    received += len(chunk)
                    if received > size:
                        raise ContentMismatch(f"received more than the announced {size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            if received != size:
                raise ContentMismatch(f"received {received} bytes, the header announced {size}")
            actual = digest.hexdigest()
            if actual != sha256:
                raise ContentMismatch(
                    f"sha256 of the received bytes is {actual}, header says {sha256}"
                )
            return self._publish(staging, path, sha256)
        finally:
            self._delete_quietly(staging)

    def _publish(self, staging: storage.Blob, path: str, sha256: str) -> StoreOutcome:
        """Copy the verified staging object to ``path`` unless something is already there."""
        found = self._classify(path, sha256)
        if found is not None:
            return found
        final = self._bucket.blob(path)
        final.metadata = {SHA256_METADATA_KEY: sha256}
        final.content_type = "application/octet-stream"
        token: str | None = None
        try:
            while True:
                token, _, _ = final.rewrite(staging, token=token, if_generation_match=0)
                if token is None:
                    break
        except gexc.PreconditionFailed:
            # another replica published this path between our check and our copy
            found = self._classify(path, sha256)
            if found is None:  # pragma: no cover - deleted again in between
                raise
            return found
        stored = self.stat(path)
        assert stored is not None
        return StoreOutcome(StoreResult.STORED, stored)

    def _delete_quietly(self, blob: storage.Blob) -> None:
        try:
            blob.delete()
        except gexc.NotFound:
            pass
        except STORE_ERRORS as exc:  # the upload's outcome stands; the object is only staging
            log.warning("could not delete staging object %s: %s", blob.name, exc)
