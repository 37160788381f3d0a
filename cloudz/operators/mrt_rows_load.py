"""Load one file's Avro rows into the routes table, exactly once per try.

``GCSToBigQueryOperator`` appends: clearing and re-running it from the UI would
load the file's rows a second time (its default ``force_rerun`` gives every try
a new job id). This subclass first deletes the rows that carry the file's
archive path and sha256, then runs the provider's load unchanged, so however
often the task runs the table holds the file's rows once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from airflow.providers.google.cloud.transfers.gcs_to_bigquery import GCSToBigQueryOperator


def file_rows_filter() -> str:
    """The WHERE clause that selects one file's rows (parameters ``collector``, ``path``,
    ``sha256``). ``collector`` is a clustering column: it keeps the scan to that collector's
    blocks instead of the whole table."""
    return "collector = @collector AND source_path = @path AND source_sha256 = @sha256"


def file_query_parameters(
    collector: str, source_path: str, source_sha256: str
) -> list[dict[str, Any]]:
    return [
        {"name": name, "parameterType": {"type": "STRING"}, "parameterValue": {"value": value}}
        for name, value in (
            ("collector", collector),
            ("path", source_path),
            ("sha256", source_sha256),
        )
    ]


class MrtRowsToBigQueryOperator(GCSToBigQueryOperator):
    """Replace the rows of one MRT file in the routes table with those of its Avro object.

    :param collector: the file's collector, as written in every row (templated)
    :param source_path: the file's archive path, as written in every row (templated)
    :param source_sha256: the file's sha256, as written in every row (templated)
    """

    template_fields: Sequence[str] = (
        *GCSToBigQueryOperator.template_fields,
        "collector",
        "source_path",
        "source_sha256",
    )

    def __init__(
        self, *, collector: str, source_path: str, source_sha256: str, **kwargs: Any
    ) -> None:
        kwargs.setdefault("source_format", "AVRO")
        kwargs.setdefault("write_disposition", "WRITE_APPEND")
        kwargs.setdefault("create_disposition", "CREATE_IF_NEEDED")
        kwargs.setdefault("autodetect", False)
        kwargs.setdefault("extra_config", {"useAvroLogicalTypes": True})
        super().__init__(**kwargs)
        self.collector = collector
        self.source_path = source_path
        self.source_sha256 = source_sha256

    def execute(self, context: Any) -> Any:
        if not self.schema_fields:
            # read here, not at DAG parse time: the schema file is the source of truth
            from cloudz import schema

            self.schema_fields = schema.bigquery_schema_fields()
            self.time_partitioning = self.time_partitioning or {
                "type": "DAY",
                "field": schema.PARTITION_FIELD,
            }
            self.cluster_fields = self.cluster_fields or list(schema.CLUSTER_FIELDS)
        hook = BigQueryHook(
            gcp_conn_id=self.gcp_conn_id,
            location=self.location,
            impersonation_chain=self.impersonation_chain,
        )
        table = self.destination_project_dataset_table
        job = hook.insert_job(
            configuration={
                "query": {
                    "query": f"DELETE FROM `{table}` WHERE {file_rows_filter()}",
                    "useLegacySql": False,
                    "parameterMode": "NAMED",
                    "queryParameters": file_query_parameters(
                        self.collector, self.source_path, self.source_sha256
                    ),
                }
            },
            project_id=self.project_id or hook.project_id,
            location=self.location,
        )
        job.result()
        deleted = getattr(job, "num_dml_affected_rows", None)
        self.log.info("Removed %s earlier rows of %s from %s", deleted, self.source_path, table)
        return super().execute(context)
