"""The archive bucket as every writer (receiver, mirror) writes it: verified, never overwritten.

Bytes go to a private staging object under ``_incoming/`` (in the working bucket,
``Settings.working_bucket``) while they are
hashed; only when size and sha256 match is the staging object published at
its archive path. A mismatch or an aborted stream deletes the staging object:
nothing ever appears at the archive path.

Publishing does not trust one precondition. GCS refuses ``if_generation_match=0``
on an existing object, but emulators do not all do so on a copy (FIELD-NOTES §12),
and a writer that is told STORED must never lose its bytes to another. So:

1. the writer *claims* the path: a small object ``_claims/<path>`` created with a
   multipart upload and ``if_generation_match=0`` (the one create-only write every
   store here enforces); a loser waits for the winner, then reads what it left;
2. the winner looks at the path again (a writer that held the claim before may
   have published and released in between), then copies staging to it
   (``if_generation_match=0`` again);
3. it reads the object back: only when its generation is the copy's and its
   sha256 the upload's is the answer STORED; otherwise the answer is what the
   path holds (the same bytes, or a conflict: nothing stored for this writer);
4. it deletes the claim. A claim left by a writer that died is taken over once
   it is older than ``CLAIM_STALE_SECONDS``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import google.auth.exceptions
import requests
from google.api_core import exceptions as gexc
from google.cloud import storage
from google.cloud.storage import exceptions as storage_errors

from cloudz.archive.paths import DERIVED_SUFFIXES

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
CLAIM_PREFIX = "_claims/"
#: a claim older than this was left by a writer that died (a publish takes seconds)
CLAIM_STALE_SECONDS = 300.0
#: how long a writer waits for another writer's claim on the same path
CLAIM_WAIT_SECONDS = 60.0
#: resumable upload chunk: the most the receiver buffers per upload (a multiple of 256 KiB;
#: 64 uploads at once hold 256 MiB of it; smaller means more requests per file)
UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024
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


class PathBusy(RuntimeError):
    """Another writer held the path's claim for longer than the wait; nothing was stored.

    ``claim_age`` (seconds, None if unknown) and ``writer`` say whose claim it is;
    ``retry_after`` is when it turns stale and the next writer takes it over."""

    def __init__(
        self,
        message: str,
        *,
        claim_age: float | None = None,
        writer: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.claim_age = claim_age
        self.writer = writer
        self.retry_after = retry_after


class ArchiveStore:
    """Reads and writes archive objects in one bucket; stages and claims in the working one.

    ``work_bucket`` (default: the archive bucket) holds ``_incoming/`` and ``_claims/``: a
    public archive bucket cannot keep them private (a public-read binding takes no IAM
    condition), so a deployment gives them a private bucket of their own.
    """

    def __init__(self, client: storage.Client, bucket: str, work_bucket: str = "") -> None:
        self._bucket = client.bucket(bucket)
        self._work = client.bucket(work_bucket) if work_bucket else self._bucket
        self.bucket_name = bucket
        self.work_bucket_name = work_bucket or bucket

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

    def names_under(self, prefix: str) -> set[str]:
        """The archive paths under ``prefix`` (a month directory): one listing, paged."""
        return {
            blob.name
            for blob in self._bucket.list_blobs(prefix=prefix, fields="items(name),nextPageToken")
            if not blob.name.endswith(DERIVED_SUFFIXES)
        }

    def objects_under(self, prefix: str) -> dict[str, ArchivedObject]:
        """The archived objects under ``prefix`` with their sha256 (one listing, paged)."""
        fields = "items(name,size,generation,metadata),nextPageToken"
        return {
            blob.name: ArchivedObject(
                path=blob.name,
                sha256=(blob.metadata or {}).get(SHA256_METADATA_KEY, ""),
                size=int(blob.size or 0),
                generation=int(blob.generation or 0),
            )
            for blob in self._bucket.list_blobs(prefix=prefix, fields=fields)
            if not blob.name.endswith(DERIVED_SUFFIXES)
        }

    def in_work_bucket(self, name: str) -> bool:
        """Is object ``name`` in the working bucket (a quarantined version's raw file,
        ``cloudz.quarantine.objects.raw_name``)? One metadata read."""
        return self._work.get_blob(name) is not None

    def existing(self, path: str, sha256: str) -> StoreOutcome | None:
        """``ALREADY_ARCHIVED`` or ``CONFLICT`` if something is at ``path``, else ``None``."""
        return self._classify(path, sha256)

    def store(
        self,
        path: str,
        sha256: str,
        size: int,
        chunks: Iterable[bytes],
        before_publish: Callable[[], None] | None = None,
        claim_wait: float = CLAIM_WAIT_SECONDS,
    ) -> StoreOutcome:
        """Stream ``chunks`` to ``path`` if and only if they hash to ``sha256`` and ``size``.

        Raises ``ContentMismatch`` when they don't; any exception from ``chunks``
        (an aborted client stream) or from ``before_publish`` (the writer's right to
        write, checked again) propagates after the staging object is removed. Another
        writer's claim on the path is waited for at most ``claim_wait`` seconds (a receiver
        passes what its client's deadline leaves), then ``PathBusy``.
        """
        staging = self._work.blob(f"{STAGING_PREFIX}{uuid.uuid4().hex}")
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
            if before_publish is not None:
                before_publish()
            return self._publish(staging, path, sha256, claim_wait)
        finally:
            self._delete_quietly(staging)

    def _publish(
        self, staging: storage.Blob, path: str, sha256: str, claim_wait: float
    ) -> StoreOutcome:
        """Publish the verified staging object at ``path`` unless something is already there."""
        started = time.monotonic()
        waited_until = started + claim_wait
        delay = 0.05
        while True:
            found = self._classify(path, sha256)
            if found is not None:
                return found
            claim = self._claim(path, sha256)
            if claim is not None:
                try:
                    # a writer that held the claim before may have published and released
                    # between the look above and this claim: look again while holding it
                    found = self._classify(path, sha256)
                    if found is not None:
                        return found
                    return self._copy_and_confirm(staging, path, sha256)
                finally:
                    self._release(claim)
            if time.monotonic() + delay > waited_until:
                raise self._busy(path, time.monotonic() - started)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _busy(self, path: str, waited: float) -> PathBusy:
        """Why ``path`` cannot be published now: whose claim it is, and when it turns stale."""
        held = self._work.get_blob(f"{CLAIM_PREFIX}{path}")
        if held is None or held.time_created is None:
            return PathBusy(
                f"another upload was publishing {path} for the {waited:.0f} s this one waited",
                retry_after=1.0,
            )
        age = (dt.datetime.now(dt.UTC) - held.time_created).total_seconds()
        writer = ""
        with contextlib.suppress(ValueError, TypeError, *STORE_ERRORS):
            writer = str(json.loads(held.download_as_bytes()).get("writer", ""))
        left = max(CLAIM_STALE_SECONDS - age, 0.0) + 1.0
        return PathBusy(
            f"another upload holds the publishing claim on {path} (taken {age:.0f} s ago"
            f"{' by ' + writer if writer else ''}; this upload waited {waited:.0f} s); a claim "
            f"older than {CLAIM_STALE_SECONDS:.0f} s is taken over, so the path can be "
            f"published again in {left:.0f} s at the latest",
            claim_age=age,
            writer=writer,
            retry_after=left,
        )

    def _claim(self, path: str, sha256: str) -> storage.Blob | None:
        """The claim object if this writer created it, else ``None`` (another holds it)."""
        claim = self._work.blob(f"{CLAIM_PREFIX}{path}")
        body = {"sha256": sha256, "writer": f"{socket.gethostname()}:{os.getpid()}"}
        try:
            claim.upload_from_string(
                json.dumps(body), content_type="application/json", if_generation_match=0
            )
            return claim
        except (gexc.PreconditionFailed, gexc.TooManyRequests):
            pass
        held = self._work.get_blob(claim.name)
        if held is not None and held.time_created is not None:
            age = (dt.datetime.now(dt.UTC) - held.time_created).total_seconds()
            if age > CLAIM_STALE_SECONDS:
                log.warning("taking over %s, left %.0f s ago", held.name, age)
                self._delete_quietly(held, if_generation_match=held.generation)
        return None

    def _release(self, claim: storage.Blob) -> None:
        self._delete_quietly(claim, if_generation_match=claim.generation)

    def _copy_and_confirm(self, staging: storage.Blob, path: str, sha256: str) -> StoreOutcome:
        """Copy staging to ``path``, then read back that the object there is this copy."""
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
            # published by a writer that did not claim (or whose claim went stale)
            found = self._classify(path, sha256)
            if found is None:  # pragma: no cover - deleted again in between
                raise
            return found
        written = int(final.generation or 0)
        stored = self.stat(path)
        if stored is None:
            raise PathBusy(f"{path} was gone right after it was published")
        if stored.generation == written and stored.sha256 == sha256:
            return StoreOutcome(StoreResult.STORED, stored)
        # the store let another copy replace this one: the truth is what the path holds
        log.error(
            "%s: wrote generation %d, the path holds generation %d (sha256 %s)",
            path,
            written,
            stored.generation,
            stored.sha256[:16],
        )
        result = StoreResult.ALREADY_ARCHIVED if stored.sha256 == sha256 else StoreResult.CONFLICT
        return StoreOutcome(result, stored)

    def _delete_quietly(self, blob: storage.Blob, if_generation_match: int | None = None) -> None:
        try:
            blob.delete(if_generation_match=if_generation_match)
        except (gexc.NotFound, gexc.PreconditionFailed):
            pass  # gone already, or another writer's claim now
        except STORE_ERRORS as exc:  # the outcome stands; the object is only staging or a claim
            log.warning("could not delete %s: %s", blob.name, exc)
