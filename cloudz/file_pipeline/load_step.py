"""Task ``load``: load a file's Avro rows with the provider's GCS-to-BigQuery operator, then
prove they are in the routes table exactly once.

Exactly once without mutating DML on the first load. BigQuery allows 2 running + 20 queued
DML statements per table, so a DELETE before every load fails under a burst of 60 files.
Instead every load of a file gets a job id from a deterministic sequence
(``cloudz_load_<hash of table, path, sha256>_<k>``): a retry first reads the file's earlier
jobs (waiting for any still running, since a killed task's job goes on in BigQuery), re-uses a
successful one that loaded this very Avro object (created after the object was written), and
otherwise loads with the next id. A load job is atomic: a failed one appends nothing.

The proof on the hot path costs no query: the job sequence is a ledger of every append of
the file's rows (only these jobs write them, each atomically), so when it holds one successful
job and that job's own ``outputRows`` equals the converted rows, the table holds each row once.
A SELECT of the routes table would be billed for the collector's whole day (a RIB day of a big
collector is ~10^8 rows; docs/warehouse.md). Only when the ledger holds more than one
successful load (a retry whose answer was lost, a cleared convert) does the task count the
rows with one SELECT bounded to the file's partitions (:mod:`cloudz.warehouse.file_rows`), and only
when that finds other rows does it delete them and load once more: the one path with DML.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
from typing import TYPE_CHECKING, Any

from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.file_pipeline.file_work import FileWork
from cloudz.file_pipeline.stage_failure import StageError, StageFailed, at_stage
from cloudz.metrics import task_metrics
from cloudz.warehouse.file_rows import FileRows

if TYPE_CHECKING:
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from google.cloud import bigquery

    from cloudz.warehouse.load_claims import LoadClaims

log = logging.getLogger(__name__)


#: BigQuery's limit of source URIs in one load job
MAX_URIS_PER_JOB = 10_000
#: how often a load job is polled: from 0.2 s, x1.5, at most 5 s. The client's default
#: polling first looks after 1 s, then 2.5 s: a load done in 1.1 s was seen at 2.5 s.
LOAD_POLLING_INITIAL, LOAD_POLLING_MAX = 0.2, 5.0


@functools.cache
def _load_operator() -> type:
    """``GCSToBigQueryOperator`` that polls its job from 0.2 s instead of 1 s."""
    from airflow.providers.google.cloud.transfers.gcs_to_bigquery import GCSToBigQueryOperator
    from google.api_core.future import polling

    prompt = polling.DEFAULT_POLLING.with_delay(
        initial=LOAD_POLLING_INITIAL, maximum=LOAD_POLLING_MAX, multiplier=1.5
    )

    class PromptGCSToBigQueryOperator(GCSToBigQueryOperator):
        def _submit_job(self, hook: Any, job_id: str) -> Any:
            job = super()._submit_job(hook, job_id)
            job._polling = prompt  # the client takes no polling argument through the operator
            return job

    return PromptGCSToBigQueryOperator


def job_id_base(table_ref: str, archive_path: str, sha256: str) -> str:
    """The prefix of every load job id of one file version into one table."""
    key = hashlib.sha256(f"{table_ref}\n{archive_path}\n{sha256}".encode()).hexdigest()
    return f"cloudz_load_{key[:40]}"


def ledger_job_id(hook: BigQueryHook, base: str, k: int, task_id: str = contract.TASK_LOAD) -> str:
    """The k-th job id of a ledger exactly as the operator derives it (the hook's own method)."""
    return str(
        hook.generate_job_id(
            job_id=f"{base}_{k}",
            dag_id=contract.DAG_ID,
            task_id=task_id,
            logical_date=None,
            configuration={},
            force_rerun=False,
        )
    )


class LoadLedger:
    """The load jobs with ids ``<base>_<k>`` into one table, in the order they were made.

    The per-file DAG keeps one ledger per file version (:class:`FileLoads`); a batch run
    keeps one per group of files (:mod:`cloudz.batch.batch_load`).
    """

    def __init__(
        self,
        hook: BigQueryHook,
        client: bigquery.Client,
        *,
        table_ref: str,
        bucket: str,
        base: str,
        task_id: str = contract.TASK_LOAD,
    ) -> None:
        self.hook = hook
        self.client = client
        self.table_ref = table_ref
        self.project = table_ref.split(".", 1)[0]
        self.bucket = bucket
        self.base = base
        self.task_id = task_id
        self.location = bigquery_location()

    def job_id(self, k: int) -> str:
        return ledger_job_id(self.hook, self.base, k, self.task_id)

    def history(self) -> list[bigquery.LoadJob]:
        """Every earlier load job of the ledger, each finished (waits for running ones)."""
        from google.api_core.exceptions import GoogleAPICallError, NotFound

        jobs: list[bigquery.LoadJob] = []
        for k in itertools.count():
            try:
                # a fenced id (cloudz.warehouse.load_claims) holds a query job: it appended nothing
                job = self._get(self.job_id(k), fenced_ok=True)
            except NotFound:
                return jobs
            if job.state != "DONE":
                log.info("Waiting for the earlier load job %s (%s)", job.job_id, job.state)
                with contextlib.suppress(GoogleAPICallError):  # a failed job appended nothing
                    job.result()
                job = self._get(job.job_id, fenced_ok=True)
                if job.state != "DONE":  # the wait itself failed: do not guess
                    raise StageError(
                        contract.STAGE_LOAD, f"earlier load job {job.job_id} is still {job.state}"
                    )
            jobs.append(job)
        raise AssertionError("unreachable")

    def load(self, k: int, context: Any, objects: list[str]) -> bigquery.LoadJob:
        """Run the provider's GCS-to-BigQuery operator with the k-th job id; the finished job.

        ``objects``: the Avro objects to append, at most ``MAX_URIS_PER_JOB``; each file's
        rows as the wildcard of its parts (``archive_path.avro_pattern``).
        """
        from airflow.sdk.bases.operator import ExecutorSafeguard

        from cloudz.warehouse import schema

        op = _load_operator()(
            task_id=f"{self.task_id}_{k}",
            gcp_conn_id=self.hook.gcp_conn_id,
            project_id=self.project,
            bucket=self.bucket,
            source_objects=list(objects),
            destination_project_dataset_table=self.table_ref,
            source_format="AVRO",
            write_disposition="WRITE_APPEND",
            create_disposition="CREATE_IF_NEEDED",
            schema_fields=schema.bigquery_schema_fields(),
            time_partitioning=schema.load_time_partitioning(),
            cluster_fields=schema.load_cluster_fields(),
            autodetect=False,
            extra_config={"useAvroLogicalTypes": True},
            job_id=f"{self.base}_{k}",
            force_rerun=False,
            reattach_states={"PENDING", "RUNNING"},
            location=self.location,
        )
        # the operator runs inside this task on purpose (its module is too heavy for the DAG
        # file): tell Airflow's nested-operator guard so it does not log a false alarm
        token = ExecutorSafeguard.tracker.set(op)
        try:
            op.execute(context)
        except Exception as failed:
            # another try took this id first and its job finished: the provider will not
            # re-attach to a DONE job, but that job is this load
            from google.api_core.exceptions import NotFound

            try:
                job = self._get(self.job_id(k))
            except NotFound:
                raise failed from None
            except StageFailed as fenced:
                # the id was fenced by a claim take-over (cloudz.warehouse.load_claims): the retry
                # reads the claim again and loads with the next id, or finds the file loaded
                raise StageError(contract.STAGE_LOAD, str(fenced)) from fenced
            if not succeeded(job):
                # still running, or it failed (a dead object store, say): the operator's
                # error stands and Airflow retries the task with the next job id
                raise
            log.info("Load job %s was finished by another try", job.job_id)
            return job
        finally:
            ExecutorSafeguard.tracker.reset(token)
        if op.job_id != self.job_id(k):
            # the ledger relies on knowing every job id in advance: a provider that derives
            # them differently must fail loudly, not load a second copy unseen
            raise StageFailed(
                contract.STAGE_LOAD,
                f"the provider named the load job {op.job_id}, the ledger expected "
                f"{self.job_id(k)}: check cloudz.file_pipeline.load_step against the provider",
            )
        return self._get(str(op.job_id))

    def _get(self, job_id: str, *, fenced_ok: bool = False) -> bigquery.LoadJob:
        from google.cloud import bigquery

        job = self.client.get_job(job_id, project=self.project, location=self.location)
        if fenced_ok and isinstance(job, bigquery.QueryJob):
            return job  # type: ignore[return-value]  # never succeeded(): not a load
        if not isinstance(job, bigquery.LoadJob):
            raise StageFailed(contract.STAGE_LOAD, f"job {job_id} is not a load job: {job!r}")
        return job


class FileLoads(LoadLedger):
    """The load jobs of one file version (the per-file DAG's ledger)."""

    def __init__(
        self,
        hook: BigQueryHook,
        client: bigquery.Client,
        *,
        table_ref: str,
        work: FileWork,
        report: dict[str, Any],
    ) -> None:
        super().__init__(
            hook,
            client,
            table_ref=table_ref,
            bucket=work.bucket,
            base=job_id_base(table_ref, work.file.archive_path, work.file.sha256),
        )
        self.work = work
        self.file = work.file
        self.report = report

    def load_file(self, k: int, context: Any) -> bigquery.LoadJob:
        # every part of the file's rows, by one wildcard (cloudz.file_pipeline.avro_parts)
        return self.load(k, context, [self.file.path.avro_pattern])

    def loaded_this_object(self, job: bigquery.LoadJob) -> bool:
        """Did ``job`` succeed, reading the Avro parts this run's conversion wrote?

        Only the convert task writes the parts, in order, before the load, so a job created
        after the last part was written (``avro_written_at``) read them all. (The provider's
        ``labels`` label the table, not the job.)
        """
        from datetime import datetime

        written = self.report.get("avro_written_at")
        if not succeeded(job) or not written or job.created is None:
            return False
        return bool(job.created >= datetime.fromisoformat(written))


def succeeded(job: bigquery.LoadJob) -> bool:
    """Finished without error: its rows are in the table (load jobs are atomic)."""
    return job.state == "DONE" and job.error_result is None and job.job_type == "load"


def _check_output(job: bigquery.LoadJob, expected: int) -> bool:
    """True when the job says it wrote ``expected`` rows; False when it does not say.

    A finished BigQuery load job always carries ``outputRows``; the emulator, on a loaded
    machine, once answered DONE before its statistics were there. That is no proof either
    way: the caller counts instead of failing the file for good.
    """
    if job.output_rows is None:
        log.warning("load job %s reports no output rows: counting instead", job.job_id)
        return False
    if job.output_rows != expected:
        raise StageFailed(
            contract.STAGE_LOAD,
            f"load job {job.job_id} wrote {job.output_rows} rows, the conversion wrote {expected}",
        )
    return True


def _count(rows: FileRows, client: bigquery.Client, table_ref: str) -> Any:
    try:
        return rows.count(client, table_ref)
    except Exception as exc:
        at_stage(contract.STAGE_CHECK, exc)
        raise


def bigquery_location() -> str | None:
    """The dataset's location (``CLOUDZ_BIGQUERY_LOCATION``): jobs of a single-region dataset
    are found only with it; None for the US and EU multi-regions."""
    from cloudz.settings import Settings

    return Settings.from_env().bigquery_location or None


def _claims(
    hook: BigQueryHook, client: bigquery.Client | None, table_ref: str, bucket: str
) -> LoadClaims:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from cloudz.settings import Settings
    from cloudz.warehouse.load_claims import LoadClaims

    work = Settings.from_env().work_bucket_for(bucket)  # claims live in the working bucket
    gcs = GCSHook(gcp_conn_id=hook.gcp_conn_id).get_conn().bucket(work)
    return LoadClaims(gcs, client, table_ref, bigquery_location() or "")


def _mark_loaded(claims: LoadClaims, loads: FileLoads, job_id: str) -> None:
    """Best effort: the claim says loaded, so it is judged without the job (which BigQuery
    forgets after months)."""
    try:
        claims.mark_loaded_by(loads.file.archive_path, loads.file.sha256, job_id)
    except Exception as exc:  # the rows are proven; the mark only spares a later look-up
        log.warning("could not mark the load claim of %s: %s", loads.file.archive_path, exc)


def _claim_load(
    context: Any, claims: LoadClaims, loads: FileLoads, history: list[bigquery.LoadJob]
) -> str | None:
    """Claim the file's load for the k-th ledger job (:mod:`cloudz.warehouse.load_claims`).

    None: ours, load it. Otherwise the id of another path's job that loaded the file (after
    waiting for it, if it is still running): its rows are in the table, do not append more.
    """
    from cloudz.warehouse.load_claims import Verdict

    file = loads.file
    avro_uri = paths.avro_source_uri(loads.work.bucket, file.archive_path)
    try:
        decision = claims.settle(
            file.archive_path,
            file.sha256,
            avro_uri,
            loads.job_id(len(history)),
            context["ti"].run_id,
            mine={str(job.job_id) for job in history},
        )
    except Exception as exc:
        at_stage(contract.STAGE_LOAD, exc)
        raise
    if decision.verdict is Verdict.LOADED:
        log.info("%s was loaded by job %s", file.archive_path, decision.claim.job_id)
        return decision.claim.job_id
    return None


def reserve_first_load(
    gcp_conn_id: str, table_ref: str, work: FileWork, report: dict[str, Any], run_id: str
) -> str | None:
    """Claim the file for its first load job, if nobody has claimed it; that job id or None.

    Run at the end of ``convert``, while the bucket is known to answer, so the first load
    submits its job without touching the bucket (a store that hangs then hangs only the job's
    reads, which fail and are retried). Safe to skip re-reading at load time: a fresh claim
    whose job does not exist yet is never taken over without fencing that job id first, and
    a fenced id makes the load fail with a retry, which reads the claim again.
    """
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from google.api_core.exceptions import PreconditionFailed

    if int(report.get("rows") or 0) == 0:
        return None
    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False)
    file = work.file
    first = ledger_job_id(hook, job_id_base(table_ref, file.archive_path, file.sha256), 0)
    claims = _claims(hook, None, table_ref, work.bucket)  # creates only: no judging
    try:
        return claims.create(file.archive_path, file.sha256, first, run_id)
    except PreconditionFailed:
        return None  # claimed before (a re-run, or a batch): the load task judges the claim


def load_and_check(
    context: Any, gcp_conn_id: str, table_ref: str, work: FileWork, report: dict[str, Any]
) -> dict[str, Any]:
    """Load the file's rows unless this Avro object is loaded already; prove them; the XCom."""
    with task_metrics.timer("load", **task_metrics.file_tags(work.file)):
        return _load_and_check(context, gcp_conn_id, table_ref, work, report)


def _load_and_check(
    context: Any, gcp_conn_id: str, table_ref: str, work: FileWork, report: dict[str, Any]
) -> dict[str, Any]:
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    expected = int(report["rows"])
    result: dict[str, Any] = {"rows_loaded": 0, "table": table_ref, "load_job": None}
    if expected == 0:
        return result
    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False)
    client = hook.get_client(project_id=table_ref.split(".", 1)[0])
    file = work.file
    loads = FileLoads(hook, client, table_ref=table_ref, work=work, report=report)
    claims = _claims(hook, client, table_ref, work.bucket)  # the load's one GCS client
    rows = FileRows.of(file.collector, file.archive_path, tuple(report["time_range"]))

    history = loads.history()
    done = [job for job in history if loads.loaded_this_object(job)]
    if done:
        job = done[-1]
        log.info("Job %s already loaded this conversion: not loading again", job.job_id)
    else:
        reserved = not history and report.get("load_claim") == loads.job_id(0)
        other = None if reserved else _claim_load(context, claims, loads, history)
        if other is not None:  # a batch load of a mirror or backfill run has these rows
            result.update(rows_loaded=expected, load_job=other, proof="claimed load job")
            return result
        job = loads.load_file(len(history), context)
    reported = _check_output(job, expected)

    others = [j for j in history if succeeded(j) and j.job_id != job.job_id]
    if work.ledger and not others and reported:
        # the ledger: no other job ever appended rows of this file, and this one wrote them all
        result.update(rows_loaded=expected, load_job=job.job_id, proof="load job")
        _mark_loaded(claims, loads, str(job.job_id))
        return result

    # an earlier load succeeded too (a retry after a lost answer, a cleared convert), or the
    # run predates the ledger (its conf has no "ledger"): count
    counts = _count(rows, client, table_ref)
    if not counts.exact(expected):
        # other rows of this file are there (an earlier conversion's): replace them
        log.warning(
            "%s holds %d rows (%d distinct) of %s, expected %d: replacing them",
            table_ref,
            counts.rows,
            counts.distinct_rows,
            file.archive_path,
            expected,
        )
        try:
            deleted = rows.delete(client, table_ref)
        except Exception as exc:
            at_stage(contract.STAGE_CHECK, exc)
            raise
        log.info("Deleted %d rows of %s", deleted, file.archive_path)
        job = loads.load_file(len(loads.history()), context)
        _check_output(job, expected)
        counts = _count(rows, client, table_ref)
        result["replaced_rows"] = deleted
    if not counts.exact(expected):
        # another try of this task may be replacing the rows at the same time: retry
        raise StageError(
            contract.STAGE_CHECK,
            f"{table_ref} holds {counts.rows} rows ({counts.distinct_rows} distinct row_index, "
            f"{counts.min_index}..{counts.max_index}) of {file.archive_path}, "
            f"the conversion wrote {expected}",
        )
    result.update(rows_loaded=counts.rows, load_job=job.job_id, proof="count")
    _mark_loaded(claims, loads, str(job.job_id))
    return result
