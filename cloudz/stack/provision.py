"""Create the bucket, the dataset and the routes table on the emulators (idempotent).

The receiver and the DAG expect them to exist, as they would in a real project set up once by
an operator; here every ``cloudz-stack up`` makes sure of it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cloudz.settings import Settings

if TYPE_CHECKING:
    from google.cloud.bigquery import SchemaField

log = logging.getLogger("cloudz.stack.provision")


def provision(
    settings: Settings,
    schema: Sequence[SchemaField] | None = None,
    partition_field: str | None = None,
    cluster_fields: Sequence[str] | None = None,
) -> None:
    """Create ``settings.bucket``, ``settings.dataset`` and the routes table if missing.

    The table's schema, DAY partitioning column and clustering come from ``cloudz.schema``
    unless given (tests pass their own).
    """
    from google.api_core.exceptions import Conflict
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery, storage

    if schema is None:
        # imported by name: cloudz.schema is written separately and may not exist yet
        routes_schema = importlib.import_module("cloudz.schema")
        schema = routes_schema.bigquery_schema_fields()
        partition_field = routes_schema.PARTITION_FIELD
        cluster_fields = list(routes_schema.CLUSTER_FIELDS)

    gcs = storage.Client(
        project=settings.gcp_project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": settings.gcs_url},
    )
    with contextlib.suppress(Conflict):
        gcs.create_bucket(settings.bucket)

    bq = bigquery.Client(
        project=settings.gcp_project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": settings.bigquery_url},
    )
    dataset_ref = f"{settings.gcp_project}.{settings.dataset}"
    bq.create_dataset(bigquery.Dataset(dataset_ref), exists_ok=True)
    if not schema:  # only while cloudz.schema does not exist yet (see main)
        return
    table = bigquery.Table(settings.table_ref, schema=list(schema))
    if partition_field:
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=partition_field
        )
    if cluster_fields:
        table.clustering_fields = list(cluster_fields)
    bq.create_table(table, exists_ok=True)


def main() -> None:
    """``python -m cloudz.stack.provision``: what ``cloudz-stack up`` runs once the emulators serve.

    Until ``cloudz.schema`` exists only the bucket and the dataset are created.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s provision %(message)s")
    settings = Settings.from_env()
    try:
        provision(settings)
    except ModuleNotFoundError as exc:
        if exc.name != "cloudz.schema":
            raise
        log.warning("cloudz.schema not found: bucket and dataset only, no routes table")
        provision(settings, schema=[])
        return
    log.info("bucket %s and table %s are there", settings.bucket, settings.table_ref)


if __name__ == "__main__":
    main()
