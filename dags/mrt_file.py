"""
### One archived MRT file → rows in BigQuery

The receiver triggers one run of this DAG per archived file (run id
`mrt:<archive path with / as ~>:<sha256 prefix>`, conf `archive_path`, `sha256`,
`size`, `bucket`). The receiver reads this run's task states and XComs to answer
the collector, so the task ids below are a contract (`cloudz.pipeline_contract`).

1. **verify_checksum**: stream the archived object and compare its size and sha256 with
   those the collector sent; a mismatch fails the run without retries.
2. **convert**: decode the MRT file (bz2, gzip or raw) into Avro rows written next to
   the raw object (`<archive path>.avro`). A damaged file is not a failure: the rows
   before the damage are converted and the XCom report carries the byte offset and
   reason, which makes the file *partial*.
3. **load**: the Google provider's GCS-to-BigQuery load, after deleting any rows of
   this file left by an earlier try: clear and re-run it as often as you like.
4. **check_rows**: count the file's rows in BigQuery; they must equal the converted
   rows, each `row_index` exactly once.

Every task is idempotent: clearing any of them (with or without downstream tasks)
leaves the table holding the file's rows exactly once. A failing task records its
reason as the XCom `failure`, which the receiver passes on to the collector.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from cloudz import pipeline_contract as contract
from cloudz.operators.mrt_rows_load import MrtRowsToBigQueryOperator

GCP_CONN_ID = "google_cloud_default"


def record_failure(context: Any) -> None:
    """Keep the reason of a failed try where the receiver reads it (an XCom)."""
    exc = context.get("exception")
    reason = f"{type(exc).__name__}: {exc}" if exc is not None else "failed"
    context["ti"].xcom_push(key=contract.XCOM_FAILURE, value=reason[:2000])


def _settings() -> Any:
    from cloudz.settings import Settings

    return Settings.from_env()


@dag(
    dag_id=contract.DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=64,
    tags=["cloudz", "mrt", "per-file"],
    doc_md=__doc__,
    default_args={
        "owner": "cloudz",
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "on_failure_callback": record_failure,
    },
    params={
        contract.CONF_ARCHIVE_PATH: Param(
            "", type="string", description="<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/<file>"
        ),
        contract.CONF_SHA256: Param("", type="string", description="sha256 of the raw file"),
        contract.CONF_SIZE: Param(0, type="integer", minimum=0),
        contract.CONF_BUCKET: Param(
            "", type="string", description="archive bucket (default: CLOUDZ_BUCKET)"
        ),
    },
    render_template_as_native_obj=True,
)
def mrt_file() -> None:
    @task(task_id=contract.TASK_VERIFY)
    def verify_checksum(params: dict[str, Any]) -> dict[str, Any]:
        import hashlib

        from airflow.exceptions import AirflowFailException
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        from cloudz import archive_path as paths

        try:
            path = paths.parse(params[contract.CONF_ARCHIVE_PATH])
            sha256 = paths.check_sha256(params[contract.CONF_SHA256])
        except ValueError as exc:
            raise AirflowFailException(f"bad run conf: {exc}") from exc
        bucket = params[contract.CONF_BUCKET] or _settings().bucket
        blob = GCSHook(gcp_conn_id=GCP_CONN_ID).get_conn().bucket(bucket).get_blob(path.path)
        if blob is None:
            raise AirflowFailException(f"gs://{bucket}/{path.path} does not exist")
        size = int(params[contract.CONF_SIZE] or 0)
        if size and blob.size != size:
            raise AirflowFailException(
                f"gs://{bucket}/{path.path} holds {blob.size} bytes, expected {size}"
            )
        digest = hashlib.sha256()
        with blob.open("rb", chunk_size=8 * 1024 * 1024) as f:
            while chunk := f.read(8 * 1024 * 1024):
                digest.update(chunk)
        actual = digest.hexdigest()
        if actual != sha256:
            raise AirflowFailException(
                f"gs://{bucket}/{path.path} has sha256 {actual}, expected {sha256}"
            )
        return {
            "bucket": bucket,
            "archive_path": path.path,
            "collector": path.collector,
            "sha256": sha256,
            "avro_object": path.avro_path,
        }

    @task(task_id=contract.TASK_CONVERT)
    def convert(file: dict[str, Any]) -> dict[str, Any]:
        import tempfile
        from pathlib import Path

        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        from cloudz.convert import convert_file

        gcs = GCSHook(gcp_conn_id=GCP_CONN_ID)
        with tempfile.TemporaryDirectory(prefix="cloudz-convert-") as tmp:
            raw = Path(tmp) / "raw.mrt"
            avro = Path(tmp) / "rows.avro"
            gcs.download(
                bucket_name=file["bucket"], object_name=file["archive_path"], filename=str(raw)
            )
            report = convert_file(
                raw,
                avro,
                collector=file["collector"],
                source_path=file["archive_path"],
                source_sha256=file["sha256"],
            )
            gcs.upload(
                bucket_name=file["bucket"],
                object_name=file["avro_object"],
                filename=str(avro),
                mime_type="application/avro",
            )
        return {
            **report.to_dict(),
            "status": report.status,
            "avro_object": file["avro_object"],
            "avro_uri": f"gs://{file['bucket']}/{file['avro_object']}",
        }

    @task(task_id=contract.TASK_CHECK)
    def check_rows(file: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
        from airflow.exceptions import AirflowFailException

        from cloudz.row_check import count_file_rows

        settings = _settings()
        counts = count_file_rows(
            GCP_CONN_ID, settings.table_ref, file["collector"], file["archive_path"], file["sha256"]
        )
        expected = int(report["rows"])
        if counts.rows != expected or counts.distinct_rows != expected:
            raise AirflowFailException(
                f"{settings.table_ref} holds {counts.rows} rows ({counts.distinct_rows} distinct "
                f"row_index) of {file['archive_path']}, the conversion wrote {expected}"
            )
        if expected and (counts.min_index != 0 or counts.max_index != expected - 1):
            raise AirflowFailException(
                f"row_index of {file['archive_path']} spans "
                f"{counts.min_index}..{counts.max_index}, expected 0..{expected - 1}"
            )
        return {"rows_loaded": counts.rows, "table": settings.table_ref}

    file = verify_checksum()
    report = convert(file)
    settings = _settings()
    load = MrtRowsToBigQueryOperator(
        task_id=contract.TASK_LOAD,
        gcp_conn_id=GCP_CONN_ID,
        project_id=settings.gcp_project,
        bucket="{{ ti.xcom_pull(task_ids='verify_checksum')['bucket'] }}",
        source_objects=["{{ ti.xcom_pull(task_ids='convert')['avro_object'] }}"],
        destination_project_dataset_table=settings.table_ref,
        collector="{{ ti.xcom_pull(task_ids='verify_checksum')['collector'] }}",
        source_path="{{ ti.xcom_pull(task_ids='verify_checksum')['archive_path'] }}",
        source_sha256="{{ ti.xcom_pull(task_ids='verify_checksum')['sha256'] }}",
        max_active_tis_per_dag=8,
    )
    report >> load >> check_rows(file, report)


mrt_file()
