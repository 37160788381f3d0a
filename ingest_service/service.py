"""The IngestService handlers: archive the bytes, start the file's run, wait, reply.

State lives in two places only: the object (with its sha256 in metadata) and
the file's Airflow run, whose id is derived from the archive path and sha256.
Any replica can therefore answer for any file, and a repeated upload finds the
same object and the same run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import grpc

from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile
from cloudz.archive.store import (
    CLAIM_WAIT_SECONDS,
    STORE_ERRORS,
    ArchiveStore,
    ContentMismatch,
    PathBusy,
    StoreOutcome,
    StoreResult,
)
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.ingest.v1 import ingest_pb2_grpc as pb_grpc
from cloudz.quarantine import objects as quarantine
from ingest_service import metrics
from ingest_service.admission import Admission
from ingest_service.airflow_runs import (
    AirflowRejected,
    AirflowRuns,
    AirflowUnavailable,
    RunSnapshot,
)
from ingest_service.auth import check_still_valid, current_principal
from ingest_service.catalog_answer import CatalogAnswers
from ingest_service.errors import RpcError, invalid_argument
from ingest_service.file_status import XCOM_KEYS, apply_run, archive_stage, run_note
from ingest_service.idle_stream import idle_limited
from ingest_service.run_watcher import RunWatcher

log = logging.getLogger(__name__)

#: what a collector is told when its file is archived but no run could be started
PICKED_UP = (
    "The file is archived and will be picked up: the hourly reconcile (mrt_reconcile) loads "
    "an archived file that no run will load, with no new upload (uploading again starts "
    "its run sooner)."
)
#: the largest file accepted (the biggest RouteViews RIBs are ~100 MB bz2)
MAX_FILE_BYTES = 8 * 1024**3
#: how often a waiting call reads its run even if the watcher has not said it ended
RECHECK_SECONDS = 30.0
#: how long a trigger whose answer was lost is followed up before the reply says so
TRIGGER_FOLLOW_UP_SECONDS = 60.0
#: how often a waiting call looks at its client and the replica's drain flag
ALIVE_SECONDS = 1.0
#: time kept back from the deadline to build and send the reply
REPLY_MARGIN_SECONDS = 1.5
#: how long to wait when the client set no deadline
DEFAULT_WAIT_SECONDS = 60.0
#: how long an upload may go without a message (``Settings.receiver_idle_seconds``)
IDLE_SECONDS = 60.0
#: the slowest an upload may send on average (``Settings.receiver_min_upload_rate``): a
#: trickle of tiny messages would otherwise hold a slot for as long as the connection lives
MIN_UPLOAD_RATE = 64 * 1024
#: the longest a status call waits for a run, whatever the client's deadline: status calls
#: have few slots, and a collector can always ask again
STATUS_WAIT_SECONDS = 60.0


class IngestService(pb_grpc.IngestServiceServicer):
    def __init__(
        self,
        store: ArchiveStore,
        runs: AirflowRuns,
        stopping: threading.Event | None = None,
        watcher: RunWatcher | None = None,
        idle_seconds: float = IDLE_SECONDS,
        min_upload_rate: float = MIN_UPLOAD_RATE,
        admission: Admission | None = None,
        future_skew: timedelta = paths.FUTURE_SKEW,
        catalog: CatalogAnswers | None = None,
    ) -> None:
        self._store = store
        #: answers for archived files whose run retention removed (None: no catalog)
        self._catalog = catalog
        #: how far after now a new file's name may be dated (``Settings``)
        self._future_skew = future_skew
        #: per-collector upload slots (the interceptor holds the per-credential ones)
        self._admission = admission
        self._idle_seconds = idle_seconds
        self._min_upload_rate = min_upload_rate
        self._runs = runs
        #: set when the replica drains: waiting calls reply "running" at once
        self._stopping = stopping or threading.Event()
        self._watcher = watcher or RunWatcher(runs, stopping=self._stopping)

    # --- RPCs ---------------------------------------------------------------
    def Upload(
        self, request_iterator: Iterator[pb.UploadRequest], context: grpc.ServicerContext
    ) -> pb.FileStatus:
        try:
            requests = idle_limited(request_iterator, self._idle_seconds, "Upload")
            with contextlib.ExitStack() as slot:
                reply, archived = self._upload(requests, context, slot)
                if archived is not None:
                    self._follow_run(reply, archived, context, trigger_missing=True)
        except grpc.RpcError:
            # the request stream broke: the client cancelled or went away mid-stream
            self._cancelled(context)
            raise  # unreachable: abort raises
        except RpcError as err:
            if not context.is_active():
                self._cancelled(context)
            metrics.UPLOADS.labels(result=err.reason.lower()).inc()
            log.info("upload refused: %s: %s", err.reason, err.message)
            context.abort_with_status(err.to_status())
            raise  # unreachable: abort raises
        outcome = pb.Outcome.Name(reply.outcome)
        metrics.UPLOADS.labels(result=outcome.lower()).inc()
        log.info(
            "%s %s: %s (%s)",
            reply.archive_path,
            reply.sha256[:16],
            outcome,
            reply.failure.reason if reply.HasField("failure") else reply.run_state,
        )
        return reply

    @staticmethod
    def _cancelled(context: grpc.ServicerContext) -> None:
        """Count and end an upload whose client is gone (not a content mismatch)."""
        metrics.UPLOADS.labels(result="cancelled").inc()
        log.info("upload cancelled by the client %s: nothing was archived", context.peer())
        context.abort(grpc.StatusCode.CANCELLED, "the client cancelled the upload")

    def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.ServicerContext
    ) -> pb.FileStatus:
        try:
            path = self._parse_path(request.archive_path, field="archive_path")
            self._authorize(path, "GetStatus")
            obj = self._store.stat(path.path)
            if obj is None and self._catalog is not None:
                note = self._catalog.quarantined(path.path)
                if note is not None:  # an operator moved the bad bytes out (cloudz-quarantine)
                    raise RpcError(
                        grpc.StatusCode.NOT_FOUND,
                        f"nothing is archived at {path.path}: {note}",
                        reason="QUARANTINED",
                        metadata={"archive_path": path.path},
                    )
            if obj is None or not obj.sha256:  # nothing, or not written by a receiver
                raise RpcError(
                    grpc.StatusCode.NOT_FOUND,
                    f"nothing is archived at {path.path}",
                    reason="NOT_ARCHIVED",
                    metadata={"archive_path": path.path},
                )
            status = self._new_status(path, obj.sha256)
            status.archive.CopyFrom(
                archive_stage(StoreResult.ALREADY_ARCHIVED, obj, self._store.uri(path.path))
            )
            self._follow_run(
                status,
                ArchivedFile(path, obj.sha256, obj.size),
                context,
                trigger_missing=False,
                max_wait=STATUS_WAIT_SECONDS,
            )
            return status
        except RpcError as err:
            context.abort_with_status(err.to_status())
            raise

    # --- steps ----------------------------------------------------------------
    def _upload(
        self,
        requests: Iterator[pb.UploadRequest],
        context: grpc.ServicerContext,
        slot: contextlib.ExitStack,
    ) -> tuple[pb.FileStatus, ArchivedFile | None]:
        """Archive the streamed file; the status of the archive stage (no run yet) and the
        file the run is for (None for a conflict: no run).

        The collector's upload slot is entered on ``slot`` once the header names it, and held
        until the caller leaves ``slot`` (after the run is followed)."""
        first = next(requests, None)
        if first is None or not first.HasField("header"):
            raise invalid_argument(
                "the first message of an upload must carry the header",
                field="header",
                reason="MISSING_HEADER",
            )
        header = first.header
        path = self._parse_path(header.archive_path)
        self._authorize(path, "Upload")
        if self._admission is not None:
            slot.enter_context(self._admission.collector(path.collector))
        try:
            sha256 = paths.check_sha256(header.sha256)
        except ValueError as exc:
            raise invalid_argument(str(exc), field="header.sha256", reason="BAD_SHA256") from exc
        if header.size == 0:
            raise invalid_argument(
                "the file is empty: an MRT dump always holds records",
                field="header.size",
                reason="EMPTY_FILE",
            )
        if header.size > MAX_FILE_BYTES:
            raise invalid_argument(
                f"file of {header.size} bytes exceeds the limit of {MAX_FILE_BYTES}",
                field="header.size",
                reason="TOO_LARGE",
            )
        try:
            paths.check_not_future(path, skew=self._future_skew)
        except paths.ArchivePathError as exc:
            raise _path_refused(exc, "header.archive_path") from exc
        status = self._new_status(path, sha256)

        # Same path archived already: answer without reading the bytes again.
        outcome = self._store.existing(path.path, sha256)
        if outcome is None and self._store.in_work_bucket(quarantine.raw_name(path.path, sha256)):
            raise RpcError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"an operator quarantined these bytes (sha256 {sha256}) at {path.path}: "
                "they are not archived again. Upload the correct file.",
                reason="QUARANTINED",
                metadata={"archive_path": path.path, "sha256": sha256},
            )
        if outcome is None:
            outcome = self._receive(path, sha256, header.size, requests, context)
        status.archive.CopyFrom(
            archive_stage(outcome.result, outcome.archived, self._store.uri(path.path))
        )
        if outcome.result is StoreResult.CONFLICT:
            status.outcome = pb.OUTCOME_REJECTED
            status.failure.stage = "archive"
            status.failure.reason = (
                f"{path.path} is already archived with sha256 {outcome.archived.sha256}; "
                f"the upload has sha256 {sha256}. Archived files are never replaced."
            )
            return status, None
        return status, ArchivedFile(path, sha256, outcome.archived.size)

    @staticmethod
    def _authorize(path: paths.ArchivePath, method: str) -> None:
        """PERMISSION_DENIED unless the caller's credential may write the path's collector."""
        principal = current_principal()
        if principal.may_write(path.collector):
            return
        metrics.REFUSED.labels(method=method, reason="permission_denied").inc()
        raise RpcError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"credential {principal.credential_id} ({principal.name}) may not write collector "
            f"{path.collector!r}; it may write: {', '.join(sorted(principal.collectors))}",
            reason="PERMISSION_DENIED",
            metadata={"archive_path": path.path, "credential": principal.credential_id},
        )

    def _receive(
        self,
        path: paths.ArchivePath,
        sha256: str,
        size: int,
        requests: Iterator[pb.UploadRequest],
        context: grpc.ServicerContext,
    ) -> StoreOutcome:
        grace, rate = self._idle_seconds, self._min_upload_rate

        def chunks() -> Iterator[bytes]:
            # only the time spent waiting for the client counts, not this replica's own
            # writes to the store (a slow store is not a slow client); the time allowed grows
            # with the bytes that arrived, not with the size the header announces, so a
            # header claiming gigabytes buys no time for a drip
            waited = 0.0
            received = 0
            # the file's first bytes, held until the name's suffix is checked against them
            head: bytes | None = b""
            while True:
                asked = time.monotonic()
                req = next(requests, None)
                waited += time.monotonic() - asked
                if req is None:
                    if head:  # a file shorter than the magic bytes
                        self._check_content(path, head)
                        yield head
                    return
                if not req.HasField("chunk"):
                    raise invalid_argument(
                        "only the first message may carry a header",
                        field="chunk",
                        reason="UNEXPECTED_HEADER",
                    )
                if not req.chunk:
                    raise invalid_argument(
                        "a chunk message must carry bytes", field="chunk", reason="EMPTY_CHUNK"
                    )
                if waited > grace + received / rate:
                    metrics.REFUSED.labels(method="Upload", reason="too_slow").inc()
                    raise RpcError(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"{received} of {size} bytes arrived in {waited:.0f} s: an upload must "
                        f"average at least {rate / 1024:.0f} KiB/s after {grace:.0f} s of "
                        "grace; it was cut off and nothing was archived; upload again",
                        reason="UPLOAD_TOO_SLOW",
                    )
                received += len(req.chunk)
                metrics.BYTES_RECEIVED.inc(len(req.chunk))
                if received <= paths.MAGIC_BYTES and head is not None:
                    head += req.chunk
                    continue
                if head is not None:
                    # nothing reaches the store before the content matches the name's suffix
                    self._check_content(path, head + req.chunk)
                    chunk, head = head + req.chunk, None
                    yield chunk
                    continue
                yield req.chunk

        # another writer's claim is waited for only as long as the client still listens
        remaining = context.time_remaining()
        claim_wait = CLAIM_WAIT_SECONDS
        if remaining is not None:
            claim_wait = max(min(claim_wait, remaining - 2 * REPLY_MARGIN_SECONDS), 0.0)
        try:
            return self._store.store(
                path.path,
                sha256,
                size,
                chunks(),
                before_publish=lambda: check_still_valid("Upload"),
                claim_wait=claim_wait,
            )
        except STORE_ERRORS as exc:
            raise RpcError(
                grpc.StatusCode.UNAVAILABLE,
                f"the object store failed ({type(exc).__name__}: {exc}); "
                f"nothing was archived at {path.path}, upload again later",
                reason="STORE_FAILED",
                metadata={"archive_path": path.path},
            ) from exc
        except PathBusy as exc:
            # not the replica's health: the path's claim. RetryInfo says when it turns stale
            raise RpcError(
                grpc.StatusCode.UNAVAILABLE,
                f"{exc}; nothing was archived for this upload",
                reason="PATH_BUSY",
                metadata={
                    "archive_path": path.path,
                    "claim_age_seconds": f"{exc.claim_age:.0f}" if exc.claim_age else "",
                    "claim_writer": exc.writer,
                },
                retry_after=exc.retry_after,
            ) from exc
        except ContentMismatch as exc:
            raise RpcError(
                grpc.StatusCode.DATA_LOSS,
                f"{exc}; nothing was archived at {path.path}",
                reason="CONTENT_MISMATCH",
                metadata={"archive_path": path.path, "sha256": sha256},
            ) from exc

    def _follow_run(
        self,
        status: pb.FileStatus,
        file: ArchivedFile,
        context: grpc.ServicerContext,
        *,
        trigger_missing: bool,
        max_wait: float | None = None,
    ) -> None:
        """Trigger the file's run if it has none, then wait for it within the deadline."""
        run_id = file.run_id
        status.run_id = run_id
        status.run_url = self._runs.run_url(run_id)
        remaining = context.time_remaining()
        wait = DEFAULT_WAIT_SECONDS if remaining is None else remaining - REPLY_MARGIN_SECONDS
        deadline = time.monotonic() + (wait if max_wait is None else min(wait, max_wait))
        with self._runs.within(deadline):
            self._trigger_and_wait(status, file, context, deadline, trigger_missing)

    def _trigger_and_wait(
        self,
        status: pb.FileStatus,
        file: ArchivedFile,
        context: grpc.ServicerContext,
        deadline: float,
        trigger_missing: bool,
    ) -> None:
        run_id = file.run_id
        if self._answered_by_catalog(status, file):
            return
        conf = {
            **file.to_conf(),
            contract.CONF_BUCKET: self._store.bucket_name,
            contract.CONF_LEDGER: True,
        }
        try:
            run = self._find_or_trigger(run_id, conf if trigger_missing else None, deadline)
        except AirflowUnavailable as exc:
            log.warning("Airflow problem for %s: %s", run_id, exc)
            status.failure.stage = "trigger"
            if trigger_missing and exc.maybe_done:
                # the trigger may have started the run: not "not triggered", but not known yet
                status.outcome = pb.OUTCOME_RUNNING
                status.run_state = "unknown"
                status.ClearField("run_url")  # no run is known to exist
                status.failure.reason = (
                    f"{exc}. The file is archived and its run may have started: ask again "
                    "with `upload-to-cloudz status`; if no run exists, the hourly reconcile "
                    "(mrt_reconcile) loads the file with no new upload."
                )
            else:
                status.outcome = pb.OUTCOME_FAILED
                status.failure.reason = f"{exc}. {PICKED_UP}"
            return
        except AirflowRejected as exc:
            log.warning("Airflow problem for %s: %s", run_id, exc)
            status.outcome = pb.OUTCOME_FAILED
            status.failure.stage = "trigger"
            status.failure.reason = f"{exc}. {PICKED_UP}"
            return
        if run is None:
            status.outcome = pb.OUTCOME_FAILED
            status.failure.stage = "trigger"
            status.failure.reason = f"no Airflow run {run_id} exists for this file. {PICKED_UP}"
            return
        run = self._wait(run, deadline, context)
        apply_run(status, run, self._runs.run_url(run_id))
        note = run_note(status)
        if run.ended and note and run.note != note:
            try:
                self._runs.set_note(run_id, note)
            except (AirflowUnavailable, AirflowRejected) as exc:
                log.warning("could not write the note of %s: %s", run_id, exc)

    def _answered_by_catalog(self, status: pb.FileStatus, file: ArchivedFile) -> bool:
        """A file archived before whose run is gone (retention): answered from the files
        catalog, and no new run. Only then is the catalog read: a new file has no row."""
        if self._catalog is None or status.archive.result != pb.ARCHIVE_RESULT_ALREADY_ARCHIVED:
            return False
        try:
            if self._runs.snapshot(file.run_id, XCOM_KEYS) is not None:
                return False
        except (AirflowUnavailable, AirflowRejected):
            return False  # the usual path reports it
        return self._catalog.answer(status, file)

    def _find_or_trigger(
        self, run_id: str, conf: dict[str, object] | None, deadline: float
    ) -> RunSnapshot | None:
        """The run, after triggering it if ``conf`` is given and it does not exist.

        A trigger whose answer is lost (a timeout, a 5xx) may still have created the run, so
        it is followed by reads (and another trigger: a repeated one answers 409) until the
        run is seen, for up to a minute within the deadline; only then does the error reach the
        collector. A request that never connected (Airflow down) is not followed up.
        """
        deadline = min(deadline, time.monotonic() + TRIGGER_FOLLOW_UP_SECONDS)
        delay = 0.5
        while True:
            try:
                run = self._runs.snapshot(run_id, XCOM_KEYS)
                if run is not None or conf is None:
                    return run
                if self._runs.trigger(run_id, conf):
                    metrics.RUNS_TRIGGERED.inc()
                return self._runs.snapshot(run_id, XCOM_KEYS)
            except AirflowUnavailable as exc:
                late = time.monotonic() + delay >= deadline
                if not (exc.maybe_done or exc.soon) or late or self._stopping.is_set():
                    raise
                log.info(
                    "Airflow unavailable for %s (%s): looking again in %.1f s", run_id, exc, delay
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, 8.0)

    def _wait(
        self, run: RunSnapshot, deadline: float, context: grpc.ServicerContext
    ) -> RunSnapshot:
        """Wait for the run to end within the deadline; the last snapshot read.

        Reads of the run that fail while waiting are not the file's failure: the last read
        stands and the reply says *running* if the deadline comes first.
        """
        last_read = time.monotonic()
        while not run.ended:
            now = time.monotonic()
            if now + ALIVE_SECONDS >= deadline or not context.is_active():
                break
            if self._stopping.is_set():
                break
            ended = self._watcher.wait(run.run_id, min(ALIVE_SECONDS, deadline - now))
            if not ended and time.monotonic() - last_read < RECHECK_SECONDS:
                continue
            last_read = time.monotonic()
            try:
                run = self._runs.snapshot(run.run_id, XCOM_KEYS) or run
            except (AirflowUnavailable, AirflowRejected) as exc:
                log.warning("reading %s failed, still waiting: %s", run.run_id, exc)
        if not run.ended and time.monotonic() - last_read > ALIVE_SECONDS:
            # the reply says what the run is now, not what it was at the last read
            with contextlib.suppress(AirflowUnavailable, AirflowRejected):
                run = self._runs.snapshot(run.run_id, XCOM_KEYS) or run
        return run

    @staticmethod
    def _check_content(path: paths.ArchivePath, head: bytes) -> None:
        try:
            paths.check_content(path, head)
        except paths.ArchivePathError as exc:
            raise _path_refused(exc, "chunk") from exc

    @staticmethod
    def _parse_path(raw: str, field: str = "header.archive_path") -> paths.ArchivePath:
        try:
            return paths.parse(raw)
        except paths.ArchivePathError as exc:
            raise _path_refused(exc, field) from exc

    @staticmethod
    def _new_status(path: paths.ArchivePath, sha256: str) -> pb.FileStatus:
        return pb.FileStatus(archive_path=path.path, sha256=sha256)


def _path_refused(exc: paths.ArchivePathError, field: str) -> RpcError:
    """INVALID_ARGUMENT naming the rule: ``BAD_ARCHIVE_PATH`` for the path's rules (the rule in
    the message and in ``metadata["rule"]``), ``SUFFIX_MISMATCH`` for the content's."""
    reason = "SUFFIX_MISMATCH" if exc.rule == "suffix-content" else "BAD_ARCHIVE_PATH"
    err = invalid_argument(f"{exc} [rule {exc.rule}]", field=field, reason=reason)
    err.metadata = {"rule": exc.rule}
    return err
