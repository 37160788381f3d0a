"""The settings-driven entry points the mirror and backfill DAGs call, one per task."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cloudz.settings import Settings
from cloudz.sources import Collector, load_collectors
from cloudz.sources.collectors import DEFAULT_PATH
from cloudz.sources.opening import open_source


def collectors_for(settings: Settings, start: datetime, end: datetime) -> list[Collector]:
    """The collectors to read for ``[start, end)``: the list, narrowed by the settings."""
    listed = load_collectors(settings.collectors_file or DEFAULT_PATH)
    chosen = [name.strip() for name in settings.archive_collectors.split(",") if name.strip()]
    unknown = sorted(set(chosen) - {c.name for c in listed})
    if unknown:
        raise ValueError(f"CLOUDZ_ARCHIVE_COLLECTORS names collectors not in the list: {unknown}")
    active = listed.active_between(start.date(), (end + timedelta(days=1)).date())
    return [c for c in active if not chosen or c.name in chosen]


def plan(
    gcp_conn_id: str,
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    ignore_load_policy: bool = False,
) -> dict[str, Any]:
    """Plan the range and cut what is left to fetch and convert into chunks (``plan``).

    The load policy in force decides which files are converted and loaded, unless
    ``ignore_load_policy`` (a backfill loading what the policy skipped): then every file."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from cloudz import load_policy
    from cloudz.archive.store import ArchiveStore
    from cloudz.batch.plan import chunked, plan_range
    from cloudz.file_pipeline import load_policy_source

    where = settings.archive_source
    store = ArchiveStore(
        GCSHook(gcp_conn_id=gcp_conn_id).get_conn(), settings.bucket, settings.working_bucket
    )
    catalog = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False).get_client(
        project_id=settings.gcp_project
    )
    collectors = collectors_for(settings, start, end)
    policy = (
        load_policy.LOAD_EVERY_FILE if ignore_load_policy else load_policy_source.current(settings)
    )
    with open_source(where) as source:
        planned = plan_range(
            source, where, store, catalog, settings.files_ref, collectors, start, end,
            future_skew=timedelta(seconds=settings.archive_future_skew_seconds),
            policy=policy,
        )  # fmt: skip
    return {"summary": planned.summary(), "chunks": chunked(planned.to_convert)}


def convert(gcp_conn_id: str, context: Any, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One mapped conversion task (``convert``) of a mirror, backfill or reconcile run."""
    from cloudz.batch.convert_chunk import convert_chunk

    ti = context["ti"]
    files_ref = Settings.from_env().files_ref
    return convert_chunk(gcp_conn_id, files_ref, ti.run_id, ti.try_number, chunk)


def load(gcp_conn_id: str, context: Any, converted: Any) -> dict[str, Any]:
    """The run's load task (``load``): every converted chunk in as few load jobs as allowed."""
    from cloudz.batch.batch_load import load_converted

    settings = Settings.from_env()
    items = [item for chunk in converted for item in chunk]
    return load_converted(context, gcp_conn_id, settings.table_ref, settings.files_ref, items)
