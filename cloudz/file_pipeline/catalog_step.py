"""The per-file DAG's rows in the files catalog (``cloudz.warehouse.file_catalog``): its last word.

The load task adds *loaded* or *partial* once the rows are proven, or *not_loaded_by_policy*
for a verified file the load policy skips (``cloudz.load_policy``); the failure callback
adds *failed* with the stage and reason when a task fails for good. Both are appends with
an id per run and try, so a cleared and re-run task adds a newer row, never a duplicate.
"""

from __future__ import annotations

import logging
from typing import Any

from cloudz.archive.archived_file import ArchivedFile
from cloudz.metrics import task_metrics
from cloudz.warehouse import file_catalog

log = logging.getLogger(__name__)


def client(gcp_conn_id: str, files_ref: str) -> Any:
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False)
    return hook.get_client(project_id=files_ref.split(".", 1)[0])


def record_loaded(
    context: Any,
    gcp_conn_id: str,
    files_ref: str,
    file: ArchivedFile,
    report: dict[str, Any],
    result: dict[str, Any],
) -> None:
    ti = context["ti"]
    row = file_catalog.loaded_row(file, report, run_id=ti.run_id, load_job=result.get("load_job"))
    file_catalog.record(
        client(gcp_conn_id, files_ref), files_ref, row, f"{ti.run_id}/{ti.try_number}/{row.state}"
    )
    task_metrics.incr("files", state=row.state, collector=row.collector, kind=row.kind)


def record_not_loaded(
    context: Any, gcp_conn_id: str, files_ref: str, table_ref: str, file: ArchivedFile, reason: str
) -> dict[str, Any]:
    """The catalog row of a verified file the load policy skipped; the load task's XCom."""
    ti = context["ti"]
    row = file_catalog.not_loaded_row(file, reason, run_id=ti.run_id)
    file_catalog.record(
        client(gcp_conn_id, files_ref), files_ref, row, f"{ti.run_id}/{ti.try_number}/{row.state}"
    )
    task_metrics.incr("files", state=row.state, collector=row.collector, kind=row.kind)
    return {"rows_loaded": 0, "table": table_ref, "load_job": None, "not_loaded": reason}


def record_failed(context: Any, gcp_conn_id: str, files_ref: str, failure: dict[str, str]) -> None:
    """Best effort: a failure callback must not fail (the reconcile DAG heals gaps)."""
    ti = context["ti"]
    try:
        file: ArchivedFile | None = ArchivedFile.from_conf(context.get("params") or {})
    except ValueError:  # a bad conf: counted, and no row (the catalog's rows name a file)
        file = None
    task_metrics.incr("files", state=file_catalog.STATE_FAILED, **task_metrics.file_tags(file))
    if file is None:
        return
    try:
        row = file_catalog.row_of(
            file,
            state=file_catalog.STATE_FAILED,
            stage=failure["stage"],
            reason=failure["reason"],
            run_id=ti.run_id,
        )
        file_catalog.record(
            client(gcp_conn_id, files_ref), files_ref, row, f"{ti.run_id}/{ti.try_number}/failed"
        )
    except Exception:
        log.exception("could not add the failure of %s to the files catalog", ti.run_id)
