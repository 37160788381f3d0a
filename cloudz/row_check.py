"""Count one file's rows in the routes table, to prove every converted row arrived once."""

from __future__ import annotations

from dataclasses import dataclass

from cloudz.operators.mrt_rows_load import file_rows_filter


@dataclass(frozen=True)
class FileRowCounts:
    rows: int
    distinct_rows: int
    min_index: int | None
    max_index: int | None


def count_file_rows(
    gcp_conn_id: str, table_ref: str, collector: str, source_path: str, source_sha256: str
) -> FileRowCounts:
    """Row count, distinct ``row_index`` count and their range, for one file version."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from google.cloud import bigquery

    project = table_ref.split(".", 1)[0]
    client = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False).get_client(
        project_id=project
    )
    job = client.query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT row_index) AS d, "
        f"MIN(row_index) AS lo, MAX(row_index) AS hi FROM `{table_ref}` "
        f"WHERE {file_rows_filter()}",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("collector", "STRING", collector),
                bigquery.ScalarQueryParameter("path", "STRING", source_path),
                bigquery.ScalarQueryParameter("sha256", "STRING", source_sha256),
            ]
        ),
    )
    row = next(iter(job.result()))
    return FileRowCounts(
        rows=int(row["n"]),
        distinct_rows=int(row["d"]),
        min_index=None if row["lo"] is None else int(row["lo"]),
        max_index=None if row["hi"] is None else int(row["hi"]),
    )
