"""Files a per-file run loaded before the files catalog and the load claims existed.

Such a file is archived with no catalog row, so the scan takes it to heal; loading it again
would append its rows a second time, since no claim says they are there. Its own run's load
jobs are still known by their ids (``cloudz_load_<hash of table, path, sha256>_<k>``, the
per-file ledger): a succeeded one means the rows are in the table (a load job is atomic).
The file is then *adopted*: a loaded claim and a catalog row name that job, and it is not
converted. Its catalog row carries no record times (the job does not say them), so a query
of its rows uses its path's month (``cloudz.warehouse.file_rows.file_window``), which is where a
RouteViews file's records are. BigQuery forgets jobs after about six months: a file loaded
longer ago than that and never catalogued cannot be told from a lost one this way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudz.warehouse import file_catalog

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

log = logging.getLogger(__name__)


def adopt_loaded(
    gcp_conn_id: str,
    client: bigquery.Client,
    work_bucket: storage.Bucket,
    table_ref: str,
    files_ref: str,
    items: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split the files to heal into (still to heal, adopted); adopted ones are recorded.

    ``work_bucket``: the working bucket, where the load claims are (``Settings.working_bucket``)."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    from cloudz.file_pipeline.file_work import FileWork
    from cloudz.file_pipeline.load_step import FileLoads, bigquery_location, succeeded
    from cloudz.warehouse.load_claims import LoadClaims

    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False)
    claims = LoadClaims(work_bucket, client, table_ref, bigquery_location() or "")
    heal: list[dict[str, Any]] = []
    adopted: list[dict[str, Any]] = []
    rows: list[file_catalog.CatalogRow] = []
    for item in items:
        work = FileWork.from_xcom(item)
        ledger = FileLoads(hook, client, table_ref=table_ref, work=work, report={})
        done = [job for job in ledger.history() if succeeded(job)]
        if not done:
            heal.append(item)
            continue
        job = done[-1]
        file = work.file
        run_id = file.run_id
        claims.adopt(file.archive_path, file.sha256, str(job.job_id), run_id)
        rows.append(
            file_catalog.row_of(
                file,
                state=file_catalog.STATE_LOADED,
                report={"rows": int(job.output_rows or 0)},
                reason="loaded by its own run before the catalog recorded it",
                run_id=run_id,
                load_job=str(job.job_id),
            )
        )
        adopted.append({"archive_path": item["archive_path"], "load_job": str(job.job_id)})
    if rows:
        file_catalog.record_many(
            client, files_ref, rows, [f"adopt/{r.load_job}/{r.archive_path}" for r in rows]
        )
        log.warning("adopted %d files loaded before the catalog: %s", len(rows), adopted[:20])
    return heal, adopted
