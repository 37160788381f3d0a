"""Who loads a file version's rows: one claim object per file, shared by both load paths.

A file reaches the routes table by two paths: the per-file DAG (a collector's upload) and
the batch load of a mirror or backfill run (many files in one load job). Either may come
first, and the same file may arrive by both (a collector uploads what the mirror fetched).
Before a path submits a load job it writes ``_loads/<table>/<archive path>/<sha256>``
(``<table>``: a hash of the table reference) naming the job id it will use, create-only
(``if_generation_match=0``), or replaces a claim whose job failed
(``if_generation_match=<its generation>``). The object store decides the race; the
loser reads the claim and waits for, or accepts, the winner's job.

So every append of a file's rows is by the job its claim names (load jobs are atomic: a
failed one appends nothing). A claim whose job never appeared in BigQuery (the claimant
died between claim and submit) is taken over only after ``STALE_SECONDS``, and only after
*fencing* its job id: the taker submits a no-op query under that id, so a claimant that
wakes up late gets 409 for its load and cannot append a second copy. A claim older than
``NEVER_FENCE_AFTER`` whose job is not found is never fenced: BigQuery forgets jobs after
about six months, so such a claim is judged BUSY and reported, not taken over.

Once its job succeeded, the claimant rewrites the claim as *loaded* (``mark_loaded``), so a
claim is judged without its job even after BigQuery forgot the job. Claims stay after the
load: they are the per-file load ledger (a few hundred bytes per file; ~21 M objects for 25
years of RouteViews, one Class A write each, two for a loaded mark).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from cloudz.archive import paths as archive_paths

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

log = logging.getLogger(__name__)

PREFIX = "_loads/"
#: a claim whose job is not in BigQuery after this long is taken as abandoned (a batch
#: claims thousands of files before it submits its one job: claiming runs in parallel)
STALE_SECONDS = 1800.0
#: a claim older than this whose job is not found may name a job BigQuery has forgotten
NEVER_FENCE_AFTER = 86400.0
#: how long the per-file path waits for another path's job before it retries later
SETTLE_SECONDS = 1800.0


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
    loaded: bool = False  # the job succeeded and read this file (``mark_loaded``)


@dataclasses.dataclass(frozen=True)
class Decision:
    verdict: Verdict
    claim: Claim


def _read_file(job: Any, avro_uri: str) -> bool:
    """Did load ``job`` name the rows ``avro_uri`` names? A load names a file's rows with the
    wildcard of its parts; a job of an older run with the single ``<path>.avro``."""
    source = archive_paths.source_of_uri(avro_uri)
    accepted = archive_paths.avro_source_uris(*source) if source else {avro_uri}
    return not accepted.isdisjoint(job.source_uris or ())


def table_key(table_ref: str) -> str:
    return hashlib.sha256(table_ref.encode()).hexdigest()[:16]


def claim_name(table_ref: str, archive_path: str, sha256: str) -> str:
    return f"{PREFIX}{table_key(table_ref)}/{archive_path}/{sha256}"


def _claim_of(blob: Any, archive_path: str, sha256: str, body: dict[str, Any]) -> Claim:
    return Claim(
        archive_path=archive_path,
        sha256=sha256,
        job_id=str(body["job_id"]),
        run_id=str(body.get("run_id") or ""),
        generation=int(blob.generation or 0),
        created=blob.time_created,
        loaded=bool(body.get("loaded")),
    )


class LoadClaims:
    """Claims in the archive bucket for one table, judged against that project's load jobs.

    ``location``: where the table's dataset is (BigQuery finds a job of a single-region
    dataset only with it); empty for the US and EU multi-regions.
    """

    def __init__(
        self,
        bucket: storage.Bucket,
        bq: bigquery.Client | None,
        table_ref: str,
        location: str = "",
    ) -> None:
        self.bucket = bucket
        self.bq = bq
        self.table_ref = table_ref
        self.project = table_ref.split(".", 1)[0]
        self.location = location or None

    def read(self, archive_path: str, sha256: str) -> Claim | None:
        from google.api_core import exceptions as gexc

        blob = self.bucket.get_blob(claim_name(self.table_ref, archive_path, sha256))
        if blob is None:
            return None
        try:
            raw = blob.download_as_bytes(if_generation_match=blob.generation)
        except (gexc.NotFound, gexc.PreconditionFailed):
            return self.read(archive_path, sha256)  # rewritten between the two calls
        return _claim_of(blob, archive_path, sha256, json.loads(raw))

    def job(self, job_id: str) -> Any | None:
        from google.api_core.exceptions import NotFound

        if self.bq is None:
            raise RuntimeError("judging a claim needs a BigQuery client")
        try:
            return self.bq.get_job(job_id, project=self.project, location=self.location)
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
        mine: Collection[str] = (),
    ) -> Decision:
        """Claim the file version for ``job_id``, or say who has it and how far they are.

        ``mine``: finished jobs of the caller's own ledger (its ``history()``); a claim held
        by one of those is the caller's to move on (it has judged them itself).
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
            verdict = None if held.job_id in mine else self.judge(held, avro_uri)
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
        if held.loaded:
            return Verdict.LOADED
        job = self.job(held.job_id)
        if job is None:
            age = (
                (dt.datetime.now(dt.UTC) - held.created).total_seconds()
                if held.created
                else STALE_SECONDS
            )
            if age < STALE_SECONDS:
                return Verdict.BUSY  # claimed moments ago: the load job is about to start
            if age > NEVER_FENCE_AFTER:
                log.error(
                    "the load claim of %s names job %s, which BigQuery does not know: "
                    "leaving it (check the file's rows before clearing the claim)",
                    held.archive_path,
                    held.job_id,
                )
                return Verdict.BUSY
            if not self._fence(held.job_id):
                return self.judge(held, avro_uri)  # it started after all: judge it
            return None
        if job.state != "DONE":
            return Verdict.BUSY
        if job.error_result is None and job.job_type == "load" and _read_file(job, avro_uri):
            return Verdict.LOADED
        return None  # failed (appended nothing), or a fence: free

    def _fence(self, job_id: str) -> bool:
        """Take ``job_id`` with a no-op query so its claimant's load cannot run; False if taken."""
        from google.api_core.exceptions import Conflict

        if self.bq is None:
            raise RuntimeError("fencing a job id needs a BigQuery client")
        try:
            self.bq.query(
                "SELECT 1",
                job_id=job_id,
                project=self.project,
                location=self.location,
                job_retry=None,
            ).result()
        except Conflict:
            return False
        log.warning("fenced abandoned load job id %s", job_id)
        return True

    def create(self, archive_path: str, sha256: str, job_id: str, run_id: str) -> str:
        """Claim an unclaimed file for ``job_id``; ``PreconditionFailed`` if it is claimed."""
        return self._write(archive_path, sha256, job_id, run_id, 0).job_id

    def mark_loaded(self, claim: Claim) -> None:
        """Record that ``claim``'s job succeeded (best effort: the job still says so)."""
        from google.api_core import exceptions as gexc

        if claim.loaded:
            return
        try:
            self._write(
                claim.archive_path,
                claim.sha256,
                claim.job_id,
                claim.run_id,
                claim.generation,
                loaded=True,
            )
        except gexc.GoogleAPICallError as exc:
            log.warning("could not mark the claim of %s loaded: %s", claim.archive_path, exc)

    def adopt(self, archive_path: str, sha256: str, job_id: str, run_id: str) -> None:
        """Record a load made before claims existed: a loaded claim naming ``job_id``,
        create-only (a claim already there, of any path, stands)."""
        from google.api_core import exceptions as gexc

        with contextlib.suppress(gexc.PreconditionFailed):
            self._write(archive_path, sha256, job_id, run_id, 0, loaded=True)

    def mark_loaded_by(self, archive_path: str, sha256: str, job_id: str) -> None:
        held = self.read(archive_path, sha256)
        if held is not None and held.job_id == job_id:
            self.mark_loaded(held)

    def _write(
        self,
        archive_path: str,
        sha256: str,
        job_id: str,
        run_id: str,
        generation: int,
        *,
        loaded: bool = False,
    ) -> Claim:
        blob = self.bucket.blob(claim_name(self.table_ref, archive_path, sha256))
        body = {
            "job_id": job_id,
            "run_id": run_id,
            "table": self.table_ref,
            "avro": archive_paths.avro_pattern(archive_path),
            "loaded": loaded,
        }
        blob.upload_from_string(
            json.dumps(body), content_type="application/json", if_generation_match=generation
        )
        return _claim_of(blob, archive_path, sha256, body)

    def settle(
        self,
        archive_path: str,
        sha256: str,
        avro_uri: str,
        job_id: str,
        run_id: str,
        *,
        mine: Collection[str] = (),
        poll_seconds: float = 5.0,
        max_wait: float = SETTLE_SECONDS,
    ) -> Decision:
        """``take``, waiting out a BUSY claim: OURS or LOADED (the per-file path's view).

        Raises ``TimeoutError`` after ``max_wait`` (the task's retry comes back later)."""
        from google.api_core.exceptions import GoogleAPICallError

        deadline = time.monotonic() + max_wait
        while True:
            decision = self.take(archive_path, sha256, avro_uri, job_id, run_id, mine=mine)
            if decision.verdict is not Verdict.BUSY:
                return decision
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{archive_path} has been claimed by job {decision.claim.job_id} "
                    f"for over {max_wait:.0f} s"
                )
            job = self.job(decision.claim.job_id)
            log.info("%s is being loaded by job %s: waiting", archive_path, decision.claim.job_id)
            if job is None:
                time.sleep(poll_seconds)
                continue
            # a failed job appended nothing, and the next take() moves the claim on
            with contextlib.suppress(GoogleAPICallError):
                job.result()
