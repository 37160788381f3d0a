"""Every Google API permission each component's calls need: the table least privilege is proven by.

Each row names a resource, a permission and the call that needs it, read off the code's client
calls. ``tests/unit/test_terraform_iam.py`` checks that the custom roles and grants of
``deploy/terraform/`` give each service account exactly the union of its components' rows, no
more and no fewer, and docs/deploy.md's IAM table is :func:`markdown_table` (a test compares).

Resources: ``project`` (BigQuery jobs run in the project), ``bucket:archive`` (public, read by
anyone), ``bucket:work`` (private: ``_incoming/``, ``_claims/``, ``_loads/``), a bucket with a
condition (``bucket:archive/*.avro``: objects whose name ends in ``.avro``; ``bucket:work/_loads/``:
objects under the prefix), ``bucket:logs`` (Airflow's remote logs), ``table:routes``,
``table:files``, ``table:coverage``, ``table:quarantine``, ``table:prefix_origins``, and
``secret:receiver``, ``secret:airflow`` (Secret Manager secrets of that group).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Need:
    """One permission on one resource, and the call that needs it."""

    resource: str
    permission: str
    call: str


def _needs(*rows: tuple[str, str, str]) -> tuple[Need, ...]:
    return tuple(Need(*row) for row in rows)


#: the archive store (``cloudz.archive.store``) as the receiver and the mirror write with it
_STORE = _needs(
    ("bucket:archive", "storage.objects.get", "ArchiveStore.stat: get_blob(path)"),
    (
        "bucket:archive",
        "storage.objects.create",
        "ArchiveStore._copy_and_confirm: rewrite to the path, if_generation_match=0",
    ),
    (
        "bucket:work",
        "storage.objects.create",
        "ArchiveStore.store: staging.open('wb'); _claim: upload_from_string",
    ),
    (
        "bucket:work",
        "storage.objects.get",
        "ArchiveStore._claim/_busy: get_blob, download_as_bytes; rewrite's source",
    ),
    ("bucket:work/_incoming/", "storage.objects.delete", "ArchiveStore.store: staging deleted"),
    (
        "bucket:work/_claims/",
        "storage.objects.delete",
        "ArchiveStore._release / a stale claim taken over",
    ),
)

#: the per-file conversion (``cloudz.file_pipeline.convert_step``, ``avro_parts``)
_CONVERT = _needs(
    (
        "bucket:archive",
        "storage.objects.get",
        "convert_step: get_blob(archive_path), download_to_file",
    ),
    (
        "bucket:archive",
        "storage.objects.create",
        "avro_parts: upload_from_filename(<path>.avro...)",
    ),
    ("bucket:archive", "storage.objects.list", "avro_parts: list_blobs(prefix=<path>.avro)"),
    (
        "bucket:archive/*.avro",
        "storage.objects.delete",
        "avro_parts: stale parts deleted; a re-run replaces its parts",
    ),
    (
        "project",
        "bigquery.jobs.create",
        "catalog_step.record_failed: the catalog's client (insert_rows_json)",
    ),
    ("table:files", "bigquery.tables.updateData", "file_catalog.record: insert_rows_json"),
)

#: the per-file load and its ledger (``cloudz.file_pipeline.load_step``, ``load_claims``)
_LOAD = _needs(
    (
        "project",
        "bigquery.jobs.create",
        "GCSToBigQueryOperator load job; file_rows count/DELETE; a claim's fencing query",
    ),
    (
        "project",
        "bigquery.jobs.get",
        "FileLoads.history / LoadClaims.judge: client.get_job of another path's job",
    ),
    ("table:routes", "bigquery.tables.get", "the load job's WRITE_APPEND to an existing table"),
    (
        "table:routes",
        "bigquery.tables.updateData",
        "the load job; file_rows.delete (the repair's DELETE)",
    ),
    (
        "table:routes",
        "bigquery.tables.getData",
        "file_rows.count: SELECT COUNT(*) of the file's rows",
    ),
    ("bucket:archive", "storage.objects.get", "the load job reads gs://<bucket>/<path>.avro*"),
    ("bucket:archive", "storage.objects.list", "the load job expands the wildcard <path>.avro*"),
    (
        "bucket:work",
        "storage.objects.create",
        "LoadClaims.claim: upload_from_string(if_generation_match=0)",
    ),
    ("bucket:work", "storage.objects.get", "LoadClaims.current: get_blob, download_as_bytes"),
    (
        "bucket:work/_loads/",
        "storage.objects.delete",
        "LoadClaims: a failed job's claim replaced (if_generation_match=<gen>)",
    ),
    ("table:files", "bigquery.tables.updateData", "catalog_step.record_loaded: insert_rows_json"),
)

#: the hourly reconcile (``cloudz.reconcile``): scans, recounts, records coverage, heals by the
#: batch path (its conversion and load: ``_CONVERT``, ``_LOAD``)
_RECONCILE = _needs(
    (
        "bucket:archive",
        "storage.objects.list",
        "bucket_scan: list_blobs(delimiter='/') and per day",
    ),
    ("bucket:archive", "storage.objects.get", "recount: blob(<path>.avro).exists()"),
    ("table:files", "bigquery.tables.getData", "file_catalog queries of the window"),
    ("table:routes", "bigquery.tables.getData", "recount: one COUNT query per window of days"),
    (
        "table:coverage",
        "bigquery.tables.getData",
        "coverage_table: the earlier checks (seen_before)",
    ),
    ("table:coverage", "bigquery.tables.updateData", "coverage_table.record: insert_rows_json"),
    (
        "table:files",
        "bigquery.tables.updateData",
        "recount's and adopt's catalog rows; run: not_loaded_by_policy rows (record_many)",
    ),
    ("project", "bigquery.jobs.create", "its queries"),
)

#: the mirror and the backfill (``cloudz.batch``): archive what RouteViews has (the store), plan
#: against the catalog, convert and batch-load (``_CONVERT``, ``_LOAD``)
_MIRROR = _needs(
    (
        "bucket:archive",
        "storage.objects.list",
        "ArchiveStore.names_under/objects_under: the month's listing",
    ),
    ("table:files", "bigquery.tables.getData", "batch.plan: the catalog's states of the range"),
    ("project", "bigquery.jobs.create", "batch.plan's query"),
    (
        "bucket:work",
        "storage.objects.get",
        "mirror.archived_copy: ArchiveStore.in_work_bucket: are the fetched bytes quarantined",
    ),
)

#: the maintenance DAG's run retention (``cloudz.reconcile.run_retention``, on the default queue):
#: which ended runs the files catalog already answers for, before ``db clean`` removes them
_RETENTION = _needs(
    ("project", "bigquery.jobs.create", "run_retention.catalogued_runs: client.query"),
    ("table:files", "bigquery.tables.getData", "catalogued_runs: SELECT DISTINCT run_id"),
)

#: the ``prefix_origins`` DAG (``cloudz.warehouse.prefix_origins.rebuild_day``, default queue):
#: a day's DELETE and ``INSERT … SELECT`` from the routes table
_PREFIX_ORIGINS = _needs(
    ("project", "bigquery.jobs.create", "rebuild_day: the DELETE and the INSERT … SELECT"),
    ("table:prefix_origins", "bigquery.tables.get", "ensure_table: get_table (Terraform made it)"),
    ("table:prefix_origins", "bigquery.tables.getData", "rebuild_day: the DELETE reads the day"),
    ("table:prefix_origins", "bigquery.tables.updateData", "rebuild_day: DELETE, INSERT"),
    ("table:routes", "bigquery.tables.getData", "rebuild_day: the INSERT's SELECT of the day"),
)

#: the coverage page, served by Airflow's api-server (``plugins/cloudz_coverage.py``)
_COVERAGE_PAGE = _needs(
    ("project", "bigquery.jobs.create", "coverage_report.grid / failed_files: client.query"),
    ("table:files", "bigquery.tables.getData", "coverage_report: the catalog side"),
    ("table:coverage", "bigquery.tables.getData", "coverage_report: the coverage side"),
)

#: ``python -m cloudz.stack.provision`` run once after ``terraform apply`` (idempotent: every
#: create answers 409 and is read back; it adds the ``_latest`` views)
_PROVISION = _needs(
    ("project", "storage.buckets.create", "create_bucket (409: exists)"),
    ("bucket:work", "storage.buckets.get", "get_bucket: the lifecycle rules"),
    ("bucket:work", "storage.buckets.update", "bucket.patch when the leftover rule is missing"),
    ("project", "bigquery.datasets.create", "create_dataset(exists_ok=True)"),
    ("project", "bigquery.datasets.get", "create_dataset: read back on 409"),
    ("project", "bigquery.tables.create", "create_table(exists_ok=True): tables and _latest views"),
    ("project", "bigquery.tables.get", "create_table: read back on 409; has_routes_layout"),
)

#: the receiver's pods mount their secrets (Airflow password, credentials file, TLS key) from
#: Secret Manager as the pod's account (the Secret Manager CSI driver)
_RECEIVER_SECRETS = _needs(
    (
        "secret:receiver",
        "secretmanager.versions.access",
        "the CSI driver mounts the receiver's secrets",
    ),
)

#: the receiver answers for an archived file whose run retention removed from the files catalog
#: (``ingest_service.catalog_answer``): one query of the catalog's month partition
_RECEIVER_CATALOG = _needs(
    ("project", "bigquery.jobs.create", "catalog_answer: file_catalog.stored_rows' query"),
    ("table:files", "bigquery.tables.getData", "catalog_answer: file_catalog.stored_rows"),
    (
        "bucket:work",
        "storage.objects.get",
        "service: ArchiveStore.in_work_bucket: are the upload's bytes quarantined",
    ),
)

#: the operator's ``cloudz-quarantine`` (``cloudz.quarantine``): moves a bad file version's raw
#: object and Avro parts to the working bucket's ``_quarantine/``, deletes its rows, writes the
#: catalog and the audit. Run with the operator's credentials impersonating ``cloudz-operator``
_QUARANTINE = _needs(
    (
        "bucket:archive",
        "storage.objects.get",
        "replace.quarantine: get_blob(path); rewrite's source",
    ),
    ("bucket:archive", "storage.objects.list", "replace.quarantine: list_blobs(<path>.avro)"),
    (
        "bucket:archive",
        "storage.objects.delete",
        "objects.delete_generation: the raw file and its parts (if_generation_match)",
    ),
    (
        "bucket:work",
        "storage.objects.list",
        "replace: list_blobs(_quarantine/<path>/<sha256>/) (a list takes no prefix condition)",
    ),
    (
        "bucket:work/_quarantine/",
        "storage.objects.create",
        "objects.copy: rewrite to _quarantine/..., if_generation_match=0",
    ),
    ("bucket:work/_quarantine/", "storage.objects.get", "objects.copy: get_blob, read back"),
    ("project", "bigquery.jobs.create", "audit/file_catalog queries; route_rows' DELETE"),
    ("table:routes", "bigquery.tables.getData", "route_rows.delete_version: the DELETE reads"),
    ("table:routes", "bigquery.tables.updateData", "route_rows.delete_version: the DELETE"),
    ("table:files", "bigquery.tables.getData", "file_catalog.stored_rows"),
    ("table:files", "bigquery.tables.updateData", "file_catalog.record: the quarantined row"),
    ("table:quarantine", "bigquery.tables.getData", "audit.rows_of"),
    ("table:quarantine", "bigquery.tables.updateData", "audit.record: insert_rows_json"),
)

#: Airflow's own processes (scheduler, dag-processor, triggerer, api-server, workers): the
#: metadata database through the Cloud SQL connector, their secrets, remote task logs
_AIRFLOW = _needs(
    ("project", "cloudsql.instances.connect", "the Cloud SQL connector / auth proxy"),
    ("project", "cloudsql.instances.get", "the connector reads the instance's address"),
    (
        "secret:airflow",
        "secretmanager.versions.access",
        "Airflow's secrets (Fernet, JWT, DB and broker passwords)",
    ),
    ("bucket:logs", "storage.objects.create", "remote logging: a task's log written"),
    ("bucket:logs", "storage.objects.get", "remote logging: a task's log read by the UI"),
    ("bucket:logs", "storage.objects.list", "remote logging: a task's log files listed"),
)

#: what each component's calls need
CALLS: dict[str, tuple[Need, ...]] = {
    "receiver": _STORE + _RECEIVER_SECRETS + _RECEIVER_CATALOG,
    "airflow": _AIRFLOW,
    "convert": _CONVERT,
    "load": _LOAD,
    "reconcile": _RECONCILE,
    "retention": _RETENTION,
    "prefix origins": _PREFIX_ORIGINS,
    "mirror/backfill": _STORE + _MIRROR,
    "coverage page": _COVERAGE_PAGE,
    "provision": _PROVISION,
    "quarantine": _QUARANTINE,
}

#: one service account per component (the Terraform resource name of each); an account's grants
#: are the union of its components' needs. Reconcile and mirror heal and load by the batch path,
#: so they convert and load too.
ACCOUNTS: dict[str, tuple[str, ...]] = {
    "receiver": ("receiver",),
    "airflow": ("airflow",),
    "worker": ("convert", "load", "retention", "prefix origins"),
    "reconcile": ("reconcile", "convert", "load"),
    "mirror": ("mirror/backfill", "convert", "load"),
    "api_server": ("coverage page",),
    "provision": ("provision",),
    "operator": ("quarantine",),
}


#: what each DAG's tasks do, as components of ``CALLS`` (dags/; the bench's ``per_file_floor``
#: is never deployed). ``tests/unit/test_helm_values.py`` follows each task through the cluster
#: policy to its queue, the Helm worker sets serving it and their accounts, and checks the
#: account needs all of these; ``tests/unit/test_terraform_iam.py`` that every DAG task is here
TASKS: dict[str, dict[str, tuple[str, ...]]] = {
    "mrt_file": {"convert": ("convert",), "load": ("load",)},
    "mrt_reconcile": {
        "scan": ("reconcile",),
        "convert": ("convert",),
        "load": ("load",),
        "recount": ("reconcile",),
        "report": ("reconcile",),
    },
    **{
        dag_id: {"plan": ("mirror/backfill",), "convert": ("convert",), "load": ("load",)}
        for dag_id in ("mrt_mirror", "mrt_backfill")
    },
    "mrt_maintenance": {"clean_runs": ("retention",)},
    "prefix_origins": {"rebuild": ("prefix origins",)},
}


def task_needs(dag_id: str, task_id: str) -> set[tuple[str, str]]:
    """(resource, permission) pairs one DAG task's calls need."""
    return {
        (need.resource, need.permission)
        for component in TASKS[dag_id][task_id]
        for need in CALLS[component]
    }


def needed(account: str) -> set[tuple[str, str]]:
    """(resource, permission) pairs the account's components need."""
    return {
        (need.resource, need.permission)
        for component in ACCOUNTS[account]
        for need in CALLS[component]
    }


def markdown_table() -> str:
    """docs/deploy.md's IAM table: per account, per resource, the permissions granted."""
    lines = [
        "| account (`deploy/terraform`) | components | resource | permissions |",
        "|---|---|---|---|",
    ]
    for account, components in ACCOUNTS.items():
        by_resource: dict[str, set[str]] = {}
        for resource, permission in needed(account):
            by_resource.setdefault(resource, set()).add(permission)
        for resource in sorted(by_resource):
            perms = ", ".join(f"`{p}`" for p in sorted(by_resource[resource]))
            name = f"`cloudz-{account.replace('_', '-')}`"
            lines.append(f"| {name} | {', '.join(components)} | `{resource}` | {perms} |")
    return "\n".join(lines) + "\n"
