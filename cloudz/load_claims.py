"""Who loads a file version's rows: one claim object per file, shared by both load paths.

A file reaches the routes table by two paths: the per-file DAG (a collector's upload) and
the batch load of a mirror or backfill run (many files in one load job). Either may come
first, and the same file may arrive by both (a collector uploads what the mirror fetched).
Before a path submits a load job it writes ``_loads/<archive path>/<sha256>`` naming the
job id it will use, create-only (``if_generation_match=0``), or replaces a claim whose job
failed (``if_generation_match=<its generation>``). The object store decides the race; the
loser reads the claim and waits for, or accepts, the winner's job.

So every append of a file's rows is by the job its claim names (load jobs are atomic: a
failed one appends nothing). A claim whose job never appeared in BigQuery (the claimant
died between claim and submit) is taken over only after ``STALE_SECONDS``, and only after
*fencing* its job id: the taker submits a no-op query under that id, so a claimant that
wakes up late gets 409 for its load and cannot append a second copy.

Claims stay after the load: they are the per-file load ledger (a few hundred bytes per file;
at ~6,400 files a day that is ~58 M objects for 25 years, one Class A write each).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

log = logging.getLogger(__name__)

PREFIX = "_loads/"
#: a claim whose job is not in BigQuery after this long is taken as abandoned
STALE_SECONDS = 600.0


class Verdict(enum.Enum):
    OURS = "ours"  # the claim names our job: submit it (or re-attach to it)
    LOADED = "loaded"  # another job loaded this file version: its rows are in the table
    BUSY = "busy"  # another job is loading it, or about to: wait or leave it


@dataclasses.dataclass(frozen=True)
class Claim:
    archive_path: str
    sha256: str
    job_id: str
    run_id: str
    generation: int
    created: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class Decision:
    verdict: Verdict
    claim: Claim


def claim_name(archive_path: str, sha256: str) -> str:
    return f"{PREFIX}{archive_path}/{sha256}"


def _claim_of(blob: Any, archive_path: str, sha256: str, job_id: str, run_id: Any) -> Claim:
    return Claim(
        archive_path=archive_path,
        sha256=sha256,
        job_id=job_id,
        run_id=str(run_id or ""),
        generation=int(blob.generation or 0),
        created=blob.time_created,
    )


class LoadClaims:
    """Claims in the archive bucket, judged against the load jobs of one project."""

    def __init__(self, bucket: storage.Bucket, bq: bigquery.Client | None, project: str) -> None:
        self.bucket = bucket
        self.bq = bq
        self.project = project

    def read(self, archive_path: str, sha256: str) -> Claim | None:
        blob = self.bucket.get_blob(claim_name(archive_path, sha256))
        if blob is None:
            return None
        body = json.loads(blob.download_as_bytes(if_generation_match=blob.generation))
        return _claim_of(blob, archive_path, sha256, str(body["job_id"]), body.get("run_id"))

    def job(self, job_id: str) -> Any | None:
        from google.api_core.exceptions import NotFound

        if self.bq is None:
            raise RuntimeError("judging a claim needs a BigQuery client")
        try:
            return self.bq.get_job(job_id, project=self.project)
        except NotFound:
            return None

    def take(
        self,
        archive_path: str,
        sha256: str,
        avro_uri: str,
        job_id: str,
        run_id: str,
        *,
        mine: str | None = None,
    ) -> Decision:
        """Claim the file version for ``job_id``, or say who has it and how far they are.

        ``mine``: the job id prefix of the caller's own ledger; a claim held by one of those
        jobs is the caller's to move on (it judges its own earlier jobs itself).
        """
        from google.api_core import exceptions as gexc

        for _ in range(8):
            held = self.read(archive_path, sha256)
            if held is None:
                try:
                    taken = self._write(archive_path, sha256, job_id, run_id, 0)
                    return Decision(Verdict.OURS, taken)
                except gexc.PreconditionFailed:
                    continue  # another path claimed it between our read and write
            if held.job_id == job_id:
                return Decision(Verdict.OURS, held)
            verdict = None if mine and held.job_id.startswith(mine) else self.judge(held, avro_uri)
            if verdict is not None:
                return Decision(verdict, held)
            try:  # its job failed, or was abandoned and is now fenced: take the claim over
                taken = self._write(archive_path, sha256, job_id, run_id, held.generation)
            except gexc.PreconditionFailed:
                continue
            log.warning("took over the load claim of %s from job %s", archive_path, held.job_id)
            return Decision(Verdict.OURS, taken)
        raise RuntimeError(f"the load claim of {archive_path} keeps changing hands")

    def judge(self, held: Claim, avro_uri: str) -> Verdict | None:
        """LOADED or BUSY for the job a claim names; None when the claim may be taken over."""
        job = self.job(held.job_id)
        if job is None:
            age = (
                (dt.datetime.now(dt.UTC) - held.created).total_seconds()
                if held.created
                else STALE_SECONDS
            )
            if age < STALE_SECONDS:
                return Verdict.BUSY  # claimed moments ago: the load job is about to start
            if not self._fence(held.job_id):
                return self.judge(held, avro_uri)  # it started after all: judge it
            return None
        if job.state != "DONE":
            return Verdict.BUSY
        if job.error_result is None and job.job_type == "load" and avro_uri in job.source_uris:
            return Verdict.LOADED
        return None  # failed (appended nothing), or a fence: free

    def _fence(self, job_id: str) -> bool:
        """Take ``job_id`` with a no-op query so its claimant's load cannot run; False if taken."""
        from google.api_core.exceptions import Conflict

        if self.bq is None:
            raise RuntimeError("fencing a job id needs a BigQuery client")
        try:
            self.bq.query("SELECT 1", job_id=job_id, project=self.project, job_retry=None).result()
        except Conflict:
            return False
        log.warning("fenced abandoned load job id %s", job_id)
        return True

    def create(self, archive_path: str, sha256: str, job_id: str, run_id: str) -> str:
        """Claim an unclaimed file for ``job_id``; ``PreconditionFailed`` if it is claimed."""
        return self._write(archive_path, sha256, job_id, run_id, 0).job_id

    def _write(
        self, archive_path: str, sha256: str, job_id: str, run_id: str, generation: int
    ) -> Claim:
        blob = self.bucket.blob(claim_name(archive_path, sha256))
        body = {"job_id": job_id, "run_id": run_id, "avro": f"{archive_path}.avro"}
        blob.upload_from_string(
            json.dumps(body), content_type="application/json", if_generation_match=generation
        )
        return _claim_of(blob, archive_path, sha256, job_id, run_id)

    def settle(
        self,
        archive_path: str,
        sha256: str,
        avro_uri: str,
        job_id: str,
        run_id: str,
        *,
        mine: str | None = None,
        poll_seconds: float = 5.0,
    ) -> Decision:
        """``take``, waiting out a BUSY claim: OURS or LOADED (the per-file path's view)."""
        import time

        from google.api_core.exceptions import GoogleAPICallError

        while True:
            decision = self.take(archive_path, sha256, avro_uri, job_id, run_id, mine=mine)
            if decision.verdict is not Verdict.BUSY:
                return decision
            job = self.job(decision.claim.job_id)
            log.info("%s is being loaded by job %s: waiting", archive_path, decision.claim.job_id)
            if job is None:
                time.sleep(poll_seconds)
                continue
            # a failed job appended nothing, and the next take() moves the claim on
            with contextlib.suppress(GoogleAPICallError):
                job.result()
