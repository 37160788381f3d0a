"""The load of a batch run: its converted files in as few load jobs as BigQuery allows.

Files are grouped up to ``MAX_URIS_PER_JOB`` (BigQuery's 10,000 source URIs per load job).
Each group keeps a job ledger like the per-file DAG's (``load_step.LoadLedger``): ids
``cloudz_batch_<hash of table and the group's file versions>_<k>``, so a retried or
resumed task first finds the group's earlier jobs and re-uses what they loaded. Before a
job is submitted, every file in it is claimed for that job id (``cloudz.warehouse.load_claims``): a
file the live path (or another batch) is loading or has loaded is left out, so no file's
rows are appended twice whichever path came first.

Per-file accounting without a query: a load job is atomic and its ``outputRows`` is exact,
so when it equals the sum of the converted rows of the files it read, each file's rows are
in the table once (each file's claim names only this job). Only if the job does not report
its rows (the emulator, once) are the files counted, grouped by file, with one query bounded
to their time range.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile
from cloudz.file_pipeline.load_step import (
    MAX_URIS_PER_JOB,
    LoadLedger,
    bigquery_location,
    succeeded,
)
from cloudz.file_pipeline.stage_failure import StageError, StageFailed
from cloudz.metrics import task_metrics
from cloudz.warehouse import file_catalog

if TYPE_CHECKING:
    from google.cloud import bigquery

    from cloudz.warehouse.load_claims import LoadClaims

log = logging.getLogger(__name__)

TASK_ID = "load_batch"


@dataclass
class BatchResult:
    loaded: dict[str, str] = field(default_factory=dict)  # archive path -> its load job
    by_others: dict[str, str] = field(default_factory=dict)  # loaded by another path's job
    busy: dict[str, str] = field(default_factory=dict)  # another path's job is on it
    rows: int = 0
    jobs: list[str] = field(default_factory=list)

    def merge(self, other: BatchResult) -> None:
        self.loaded.update(other.loaded)
        self.by_others.update(other.by_others)
        self.busy.update(other.busy)
        self.rows += other.rows
        self.jobs.extend(other.jobs)


def group_base(table_ref: str, files: Sequence[dict[str, Any]]) -> str:
    versions = sorted(f"{f['archive_path']}\n{f['sha256']}" for f in files)
    key = hashlib.sha256("\n".join([table_ref, *versions]).encode()).hexdigest()
    return f"cloudz_batch_{key[:40]}"


def avro_uri(file: dict[str, Any]) -> str:
    """The load source of the file's rows: the wildcard of its Avro parts."""
    return paths.avro_source_uri(file["bucket"], file["archive_path"])


def _source(uri: str) -> str:
    """The load source of the file ``uri`` names (a job of an older try may have named its
    rows with the single ``<path>.avro``); ``uri`` itself if it names no file's rows."""
    source = paths.source_of_uri(uri)
    return paths.avro_source_uri(*source) if source else uri


#: claims written at once (each is 2-3 requests to the bucket; a day has ~6,400 files)
CLAIM_THREADS = 16


def load_group(
    context: Any,
    ledger: LoadLedger,
    claims: LoadClaims,
    group: Sequence[dict[str, Any]],
) -> BatchResult:
    """Load one group (``{"file", "report"}`` items, one bucket) exactly once per file."""
    from google.api_core.exceptions import GoogleAPICallError

    from cloudz.warehouse.load_claims import Verdict

    result = BatchResult()
    remaining = {avro_uri(item["file"]): item for item in group}
    history = ledger.history()
    for job in history:  # a retried or resumed task: what earlier tries loaded stays loaded
        if succeeded(job):
            read = {_source(uri) for uri in job.source_uris}
            done = [remaining.pop(uri) for uri in sorted(read) if uri in remaining]
            _account(job, done, result)
            _mark(claims, done, str(job.job_id))
    if not remaining:
        return result
    k = len(history)
    job_id = ledger.job_id(k)
    run_id = context["ti"].run_id
    mine = {str(job.job_id) for job in history}

    def claim(uri: str) -> tuple[str, Any]:
        file = remaining[uri]["file"]
        take = functools.partial(
            claims.take, file["archive_path"], file["sha256"], uri, job_id, run_id, mine=mine
        )
        decision = take()
        if decision.verdict is Verdict.BUSY:  # another path's job is running: wait for it
            running = claims.job(decision.claim.job_id)
            if running is not None:
                with contextlib.suppress(GoogleAPICallError):
                    running.result()
                decision = take()
        return uri, decision

    claimed: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=CLAIM_THREADS, thread_name_prefix="claim") as pool:
        for uri, decision in pool.map(claim, sorted(remaining)):
            path = remaining[uri]["file"]["archive_path"]
            if decision.verdict is Verdict.OURS:
                claimed.append(remaining[uri])
            elif decision.verdict is Verdict.LOADED:
                result.by_others[path] = decision.claim.job_id
            else:
                result.busy[path] = decision.claim.job_id
    if claimed:
        with task_metrics.timer("batch_load"):  # one job for many collectors: no tags
            job = ledger.load(
                k, context, [paths.avro_pattern(item["file"]["archive_path"]) for item in claimed]
            )
        read = {_source(uri) for uri in job.source_uris}
        if read != {avro_uri(item["file"]) for item in claimed}:
            raise StageError(
                contract.STAGE_LOAD,
                f"load job {job.job_id} read other files than this try claimed for it "
                "(another try of this task ran at the same time): retrying",
            )
        _account(job, claimed, result)
        _mark(claims, claimed, str(job.job_id))
    return result


def _mark(claims: LoadClaims, items: list[dict[str, Any]], job_id: str) -> None:
    """Mark the items' claims loaded by ``job_id`` (best effort, in parallel)."""

    def mark(item: dict[str, Any]) -> None:
        try:
            claims.mark_loaded_by(item["file"]["archive_path"], item["file"]["sha256"], job_id)
        except Exception as exc:  # the job still proves it; the mark spares a look-up
            log.warning("could not mark %s loaded: %s", item["file"]["archive_path"], exc)

    with ThreadPoolExecutor(max_workers=CLAIM_THREADS, thread_name_prefix="mark") as pool:
        list(pool.map(mark, items))


def _account(job: bigquery.LoadJob, items: list[dict[str, Any]], result: BatchResult) -> None:
    """Check the job wrote exactly the items' converted rows; record each as loaded by it."""
    expected = sum(int(item["report"]["rows"]) for item in items)
    if job.output_rows is not None and job.output_rows != expected:
        raise StageFailed(
            contract.STAGE_CHECK,
            f"load job {job.job_id} wrote {job.output_rows} rows, its {len(items)} files "
            f"converted to {expected}",
        )
    if job.output_rows is None:
        raise StageError(contract.STAGE_CHECK, f"load job {job.job_id} reports no row count")
    for item in items:
        result.loaded[item["file"]["archive_path"]] = str(job.job_id)
    result.rows += expected
    result.jobs.append(str(job.job_id))


def load_converted(
    context: Any,
    gcp_conn_id: str,
    table_ref: str,
    files_ref: str,
    converted: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """Load every converted file of the run; add its catalog row; the task's XCom summary."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from cloudz.file_pipeline import catalog_step
    from cloudz.settings import Settings
    from cloudz.warehouse.load_claims import LoadClaims

    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False)
    client = hook.get_client(project_id=table_ref.split(".", 1)[0])
    left = {i["file"]["archive_path"]: i["left"] for i in converted if "left" in i}
    items = sorted(
        (i for i in converted if "report" in i), key=lambda item: item["file"]["archive_path"]
    )
    with_rows = [item for item in items if int(item["report"]["rows"]) > 0]
    result = BatchResult()
    by_bucket: dict[str, list[dict[str, Any]]] = {}
    for item in with_rows:
        by_bucket.setdefault(item["file"]["bucket"], []).append(item)
    gcs = GCSHook(gcp_conn_id=gcp_conn_id).get_conn()
    for bucket, bucket_items in sorted(by_bucket.items()):
        work = Settings.from_env().work_bucket_for(bucket)  # claims live in the working bucket
        claims = LoadClaims(gcs.bucket(work), client, table_ref, bigquery_location() or "")
        for i in range(0, len(bucket_items), MAX_URIS_PER_JOB):
            group = bucket_items[i : i + MAX_URIS_PER_JOB]
            ledger = LoadLedger(
                hook,
                client,
                table_ref=table_ref,
                bucket=bucket,
                base=group_base(table_ref, [item["file"] for item in group]),
                task_id=TASK_ID,
            )
            result.merge(load_group(context, ledger, claims, group))

    ti = context["ti"]
    rows: list[file_catalog.CatalogRow] = []
    ids: list[str] = []
    for item in items:
        file, report = item["file"], item["report"]
        job = result.loaded.get(file["archive_path"]) or result.by_others.get(file["archive_path"])
        if job is None and int(report["rows"]) > 0:
            continue  # busy elsewhere: the path loading it records it
        archived = ArchivedFile.from_conf(file)
        rows.append(file_catalog.loaded_row(archived, report, run_id=ti.run_id, load_job=job))
        ids.append(f"{ti.run_id}/{job}/{file['archive_path']}")
    if rows:
        file_catalog.record_many(catalog_step.client(gcp_conn_id, files_ref), files_ref, rows, ids)
    for row in rows:
        task_metrics.incr("files", state=row.state, collector=row.collector, kind=row.kind)
    summary = {
        "files": len(items),
        "loaded": len(result.loaded),
        "loaded_by_others": len(result.by_others),
        "busy_elsewhere": sorted(result.busy),
        "left_for_next_run": left,
        # fetched and archived, not loaded: the load policy (their catalog rows say so)
        "not_loaded_by_policy": sum(1 for i in converted if "not_loaded" in i),
        "rows_loaded": result.rows,
        "load_jobs": result.jobs,
    }
    log.info("batch load: %s", summary)
    return summary
