"""One mapped conversion task: fetch (when the plan says so), verify and convert each file.

A file the bucket lacked is fetched from the source to a hashed temporary copy, archived
through ``ArchiveStore`` (the receiver's guarantees: sha256 in metadata, create-only, read
back), and that same copy is converted: no second download. An archived file is converted
by the per-file DAG's own step (download while hashing, verify). Both write the same Avro
object next to the raw one.

A file that is wrong for good (bad sha256, not MRT, a bomb) is recorded *failed* in the
files catalog and left out of the load; it does not fail its neighbours. A file the source
cannot serve, or whose path holds other bytes (a conflict), is left for the next run's plan.
Anything else (the object store, the network) fails the task, and Airflow's retry converts
the chunk again: archiving is idempotent, and writing an Avro object twice is harmless
(no load has read it yet, or the load claim says which job did).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from cloudz.file_pipeline.file_work import FileWork
from cloudz.metrics import task_metrics
from cloudz.warehouse import file_catalog

log = logging.getLogger(__name__)


def convert_chunk(
    gcp_conn_id: str, files_ref: str, run_id: str, try_number: int, chunk: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``[{"file", "report"}]`` of the converted files, ``{"file", "left"}`` for those left
    to the next run (not fetched, or a conflict), ``{"file", "not_loaded"}`` for those
    fetched and archived that the load policy skips; failed and skipped ones are in the
    catalog."""
    from cloudz.file_pipeline import catalog_step
    from cloudz.file_pipeline.stage_failure import StageFailed

    converted: list[dict[str, Any]] = []
    failed: list[file_catalog.CatalogRow] = []
    skipped: list[file_catalog.CatalogRow] = []  # archived, not loaded by the load policy
    with ExitStack() as sources:
        fetcher = _Fetcher(gcp_conn_id, sources)
        for item in chunk:
            file = {k: v for k, v in item.items() if k != "fetch"}
            try:
                with fetcher.copy(item, file) as raw:
                    if isinstance(raw, _Left):
                        converted.append({"file": file, "left": raw.reason})
                        continue
                    work = FileWork.from_xcom(file)  # fetched: its sha256 and size are known
                    if item.get("not_loaded") and raw != "archived":
                        # the load policy skips it: archived (and hashed as it was), no rows
                        skipped.append(file_catalog.not_loaded_row(
                            work.file, item["not_loaded"], run_id=run_id
                        ))  # fmt: skip
                        converted.append({"file": file, "not_loaded": item["not_loaded"]})
                        continue
                    report = _convert(gcp_conn_id, work, raw, fetcher.bucket(work.bucket))
            except StageFailed as exc:
                log.error("%s failed at %s: %s", work.file.archive_path, exc.stage, exc)
                failed.append(
                    file_catalog.row_of(
                        work.file,
                        state=file_catalog.STATE_FAILED,
                        stage=exc.stage,
                        reason=str(exc),
                        run_id=run_id,
                    )
                )
                continue
            converted.append({"file": file, "report": report})
    if failed or skipped:
        client = catalog_step.client(gcp_conn_id, files_ref)
        file_catalog.record_many(
            client,
            files_ref,
            failed + skipped,
            [f"{run_id}/{try_number}/{row.state}/{row.archive_path}" for row in failed + skipped],
        )
    for row in failed + skipped:
        task_metrics.incr("files", state=row.state, collector=row.collector, kind=row.kind)
    return converted


def _convert(gcp_conn_id: str, work: FileWork, raw: Path | str, bucket: Any) -> dict[str, Any]:
    from cloudz.file_pipeline import convert_step

    if raw == "archived":
        return convert_step.fetch_verify_convert(gcp_conn_id, work, bucket)
    return convert_step.convert_archived_copy(gcp_conn_id, work, Path(raw), bucket)


class _Left:
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Fetcher:
    """Opens each source once per task, and the object store's client once."""

    def __init__(self, gcp_conn_id: str, stack: ExitStack) -> None:
        self.gcp_conn_id = gcp_conn_id
        self.stack = stack
        self.sources: dict[str, Any] = {}
        self.stores: dict[str, Any] = {}
        self._client: Any = None

    @contextmanager
    def copy(self, item: dict[str, Any], file: dict[str, Any]) -> Iterator[Path | str | _Left]:
        """A local copy of an item to fetch (``file`` gains its sha256 and size), "archived"
        for an archived one, or why it is left for the next run."""
        if "fetch" not in item:
            yield "archived"
            return
        from cloudz.archive.store import StoreResult
        from cloudz.batch.mirror import archived_copy
        from cloudz.sources import SourceError
        from cloudz.sources.files import RefusedFile, source_file_from_dict

        where = item["fetch"]["where"]
        source_file = source_file_from_dict(item["fetch"]["file"])
        try:
            with archived_copy(self._source(where), self._store(file["bucket"]), source_file) as (
                archived,
                copy,
            ):
                file.update(sha256=archived.sha256, size=archived.size)
                if archived.result == StoreResult.CONFLICT.value:
                    # the archive keeps its own bytes: the next plan takes those
                    yield _Left(f"the archive holds other bytes (sha256 {archived.sha256})")
                else:
                    yield copy.path
        except RefusedFile as exc:
            # the receiver's rule: content that is not what the name's suffix says
            log.warning("%s: skipped, not archived: %s: %s", file["archive_path"], exc.rule, exc)
            file.setdefault("sha256", "")
            yield _Left(f"skipped ({exc.rule}): {exc}")
        except SourceError as exc:
            log.warning("%s: not fetched, left for the next run: %s", file["archive_path"], exc)
            file.setdefault("sha256", "")
            yield _Left(f"not fetched: {exc}")

    def _source(self, where: str) -> Any:
        if where not in self.sources:
            from cloudz.sources.opening import open_source

            self.sources[where] = self.stack.enter_context(open_source(where))
        return self.sources[where]

    def client(self) -> Any:
        if self._client is None:
            from airflow.providers.google.cloud.hooks.gcs import GCSHook

            self._client = GCSHook(gcp_conn_id=self.gcp_conn_id).get_conn()
        return self._client

    def bucket(self, name: str) -> Any:
        return self.client().bucket(name)

    def _store(self, bucket: str) -> Any:
        if bucket not in self.stores:
            from cloudz.archive.store import ArchiveStore
            from cloudz.settings import Settings

            work = Settings.from_env().work_bucket_for(bucket)
            self.stores[bucket] = ArchiveStore(self.client(), bucket, work)
        return self.stores[bucket]
