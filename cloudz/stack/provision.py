"""Create the bucket, the dataset and the routes table on the emulators (idempotent).

The receiver and the DAG expect them to exist, as they would in a real project set up once by
an operator; here every ``cloudz-stack up`` makes sure of it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from cloudz.settings import Settings

log = logging.getLogger("cloudz.stack.provision")


#: what a writer killed mid-upload leaves in the working bucket: a staging object, or a claim
#: (taken over after minutes anyway); GCS deletes them after a day (fake-gcs-server accepts the
#: rule, ignores it). ``_loads/`` stays: load claims are the per-file load ledger
LEFTOVER_PREFIXES = ["_incoming/", "_claims/"]


def _expire_leftovers(bucket: Any) -> None:
    for rule in bucket.lifecycle_rules:
        if rule.get("condition", {}).get("matchesPrefix") == LEFTOVER_PREFIXES:
            return
    bucket.add_lifecycle_delete_rule(age=1, matches_prefix=LEFTOVER_PREFIXES)
    bucket.patch()


def provision(settings: Settings) -> None:
    """Create ``settings.bucket`` (and the working bucket), the dataset and its tables if missing.

    The table comes from ``cloudz.warehouse.schema``'s definition (the one ``routes_table.json``
    holds): MONTH-partitioned on ``timestamp`` with ``require_partition_filter``, clustered on
    ``(collector, entry_type, timestamp, prefix)``. A routes table that exists with another layout
    is left as it is, with a warning: ``cloudz-migrate-routes`` moves it (docs/warehouse-layout.md).
    The clients follow ``STORAGE_EMULATOR_HOST`` and ``BIGQUERY_EMULATOR_HOST`` (the local stack,
    docker-compose) or use real Google Cloud.
    """
    from google.api_core.exceptions import Conflict
    from google.cloud import bigquery

    from cloudz.quarantine import audit as quarantine_audit
    from cloudz.warehouse import coverage_table, file_catalog
    from cloudz.warehouse import schema as routes
    from cloudz.warehouse.clients import bigquery_client, storage_client

    for name in dict.fromkeys([settings.bucket, settings.working_bucket]):
        with contextlib.suppress(Conflict):
            storage_client(settings).create_bucket(name)
    _expire_leftovers(storage_client(settings).get_bucket(settings.working_bucket))

    bq = bigquery_client(settings)
    bq.create_dataset(
        bigquery.Dataset(f"{settings.gcp_project}.{settings.dataset}"), exists_ok=True
    )
    table = bq.create_table(
        bigquery.Table.from_api_repr(routes.routes_table_resource(settings.table_ref)),
        exists_ok=True,
    )
    if not routes.has_routes_layout(table.to_api_repr()):
        log.warning(
            "%s exists with the layout %s, not %s: run cloudz-migrate-routes "
            "(docs/warehouse-layout.md)",
            settings.table_ref,
            routes.table_layout(table.to_api_repr()),
            routes.table_layout(routes.routes_table_definition()),
        )
    file_catalog.ensure_tables(bq, settings.files_ref)
    coverage_table.ensure_tables(bq, settings.coverage_ref)
    quarantine_audit.ensure_tables(bq, settings.quarantine_ref)


def main() -> None:
    """``python -m cloudz.stack.provision``, run by ``cloudz-stack up`` once the emulators serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s provision %(message)s")
    settings = Settings.from_env()
    provision(settings)
    log.info(
        "buckets %s (working: %s) and table %s are there",
        settings.bucket,
        settings.working_bucket,
        settings.table_ref,
    )


if __name__ == "__main__":
    main()
