"""Task ``convert``: download the archived object while hashing it, verify, convert, publish.

One task for three stages because they share the download: the bytes are hashed as they
arrive, so verifying costs no second read, and the converter reads the local copy. A size or
sha256 mismatch fails the run at stage ``verify`` without retries (the archived object is
wrong, not the task). A file with no MRT record in it, or one that crosses a conversion limit
(a decompression bomb), fails at stage ``convert``, also without retries: the archive keeps its
bytes, but there is nothing to load. The Avro rows are written next to the raw object, as
parts of at most ``CLOUDZ_AVRO_PART_MB`` (:mod:`cloudz.file_pipeline.avro_parts`); the
creation time of the last part goes in the result so the load can tell a new conversion
from one it loaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from cloudz import load_policy
from cloudz import pipeline_contract as contract
from cloudz.archive.archived_file import ArchivedFile
from cloudz.file_pipeline import avro_parts
from cloudz.file_pipeline.file_work import FileWork
from cloudz.file_pipeline.stage_failure import StageFailed, at_stage
from cloudz.metrics import task_metrics

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024
#: the default decision: convert and load
_LOAD = load_policy.Decision(True)


class _HashingFile:
    """A writable file that hashes what passes through it (the download's sink)."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return int(self._f.write(data))

    def flush(self) -> None:
        self._f.flush()


def check_conf(params: dict[str, Any], default_bucket: str) -> FileWork:
    """The run's conf, validated (the receiver wrote it; an operator may have typed it)."""
    try:
        file = ArchivedFile.from_conf(params)
    except ValueError as exc:
        raise StageFailed(contract.STAGE_VERIFY, f"bad run conf: {exc}") from exc
    return FileWork(
        file,
        bucket=params.get(contract.CONF_BUCKET) or default_bucket,
        ledger=bool(params.get(contract.CONF_LEDGER)),
    )


def yield_cpu_if_rib(file: ArchivedFile, niceness: int) -> None:
    """Lower this task process's CPU priority by ``niceness`` if ``file`` is a RIB.

    The cluster policy gives a RIB's tasks a pool, a queue and a lower priority, which decide
    when they start; once started, a RIB's minutes of conversion compete for the cores with
    the update files of the same minutes. Niced, it takes only the CPU they leave. The task
    process ends with the task, so nothing else inherits the niceness.
    """
    if niceness > 0 and file.kind == "RIBS":
        os.nice(niceness)


def archive_bucket(gcp_conn_id: str, name: str) -> Any:
    """The bucket through the connection's client (a caller with many files keeps it)."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    return GCSHook(gcp_conn_id=gcp_conn_id).get_conn().bucket(name)


def fetch_verify_convert(
    gcp_conn_id: str,
    work: FileWork,
    bucket: Any = None,
    policy: load_policy.Decision = _LOAD,
) -> dict[str, Any]:
    """Run the three stages for ``work`` (from :func:`check_conf`); return the XCom result.

    A file the load ``policy`` skips is downloaded and verified, not converted: its result
    carries ``not_loaded`` (the policy's words) and no rows."""
    bucket = bucket or archive_bucket(gcp_conn_id, work.bucket)
    uri, file = work.uri, work.file
    try:
        blob = bucket.get_blob(file.archive_path)
    except Exception as exc:  # the object store, not the file: Airflow retries
        at_stage(contract.STAGE_VERIFY, exc)
        raise
    if blob is None:
        raise StageFailed(contract.STAGE_VERIFY, f"{uri} does not exist")
    if file.size and blob.size != file.size:
        raise StageFailed(
            contract.STAGE_VERIFY, f"{uri} holds {blob.size} bytes, expected {file.size}"
        )
    with tempfile.TemporaryDirectory(prefix="cloudz-convert-") as tmp:
        raw, avro = Path(tmp) / "raw.mrt", Path(tmp) / "rows.avro"
        with raw.open("wb") as f:
            sink = _HashingFile(f)
            try:
                # the generation read above: a concurrent writer cannot mix two versions
                blob.download_to_file(sink, if_generation_match=blob.generation)
            except Exception as exc:
                at_stage(contract.STAGE_VERIFY, exc)
                raise
        actual = sink.sha256.hexdigest()
        if actual != file.sha256:
            raise StageFailed(
                contract.STAGE_VERIFY, f"{uri} has sha256 {actual}, expected {file.sha256}"
            )
        log.info("%s: %d bytes, sha256 verified", uri, sink.size)
        if not policy.load:
            return not_loaded_report(work, policy, sink.size)
        return _convert_and_publish(bucket, work, raw, avro, sink.size)


def not_loaded_report(
    work: FileWork, policy: load_policy.Decision, verified_bytes: int
) -> dict[str, Any]:
    """The result of a verified file the load policy leaves unconverted and unloaded."""
    log.info("%s: %s", work.uri, policy.reply)
    task_metrics.incr("bytes", verified_bytes, **task_metrics.file_tags(work.file))
    return {
        "status": load_policy.STATE_NOT_LOADED_BY_POLICY,
        "not_loaded": policy.reason,
        "rows": 0,
        "records": 0,
        "parse_errors": 0,
        "verified_bytes": verified_bytes,
    }


def convert_archived_copy(
    gcp_conn_id: str, work: FileWork, raw: Path, bucket: Any = None
) -> dict[str, Any]:
    """Convert a local copy of the archived file (the mirror's fetched bytes, hashed as they
    arrived and archived with that sha256) and publish its Avro object: no second download."""
    bucket = bucket or archive_bucket(gcp_conn_id, work.bucket)
    with tempfile.TemporaryDirectory(prefix="cloudz-convert-") as tmp:
        return _convert_and_publish(bucket, work, raw, Path(tmp) / "rows.avro", raw.stat().st_size)


def _convert_and_publish(
    bucket: Any, work: FileWork, raw: Path, avro: Path, verified_bytes: int
) -> dict[str, Any]:
    """Convert ``raw`` (whose sha256 is the file's), write the Avro object, report."""
    from cloudz.convert import convert_file
    from cloudz.convert.limits import LimitExceeded

    uri, file = work.uri, work.file
    tags = task_metrics.file_tags(file)
    try:
        with task_metrics.timer("convert", **tags):
            report = convert_file(
                raw,
                avro,
                collector=file.collector,
                source_path=file.archive_path,
                source_sha256=file.sha256,
            )
    except LimitExceeded as exc:
        raise StageFailed(contract.STAGE_CONVERT, str(exc)) from exc
    if report.not_mrt is not None:
        log.info("%s: %s", uri, report.to_dict())
        raise StageFailed(contract.STAGE_CONVERT, report.not_mrt)
    published = avro_parts.publish(bucket, file.archive_path, avro, avro_parts.part_bytes_setting())
    log.info("%s: %s", uri, report.to_dict())
    task_metrics.incr("files", state="converted", **tags)
    task_metrics.incr("bytes", verified_bytes, **tags)
    task_metrics.incr("rows", report.rows, **tags)
    task_metrics.incr("parse_errors", report.parse_errors, **tags)
    return {
        **report.to_dict(),
        "status": report.status,
        "verified_bytes": verified_bytes,
        # avro_object: part 0; avro_source: the wildcard a load names every part with;
        # avro_written_at: when the last part was written (a load job created later read
        # this conversion)
        **published.report(work.bucket, file.archive_path),
    }
