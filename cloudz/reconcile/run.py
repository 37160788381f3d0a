"""The reconcile DAG's entry points, one per task: scan (and flag), then report.

Between them the DAG converts and loads the files to heal with the mirror's own tasks
(``cloudz.batch``), so a healed file goes through the same claims, ledger and catalog rows
as every batch-loaded file.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cloudz import load_policy
from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile
from cloudz.file_pipeline import load_policy_source
from cloudz.metrics import task_metrics
from cloudz.reconcile import adopt, airflow_api, bucket_scan, freshness, recount
from cloudz.reconcile.findings import REPORT_LIMIT, add_catalog_failures, classify
from cloudz.settings import Settings
from cloudz.sources import load_collectors
from cloudz.sources.collectors import DEFAULT_PATH
from cloudz.warehouse import coverage_report, coverage_table, file_catalog

log = logging.getLogger(__name__)


#: how far back the newest file of a collector silent for longer than the window is looked up
SEEN_BEFORE_DAYS = 90
#: failed catalog files read for the report (its lists keep REPORT_LIMIT; the count is whole
#: up to this)
CATALOG_FAILED_LIMIT = 10_000
#: a run's window at most: its listings, catalog rows and recount list stay one month's
MAX_WINDOW_DAYS = 31


@dataclass(frozen=True)
class Window:
    """The days of file names a run looks at, the collectors, and its clock."""

    first: dt.date
    last: dt.date
    now: dt.datetime
    #: only these collectors (empty: every collector of the list and of the bucket)
    collectors: tuple[str, ...] = ()
    settle: dt.timedelta = dt.timedelta(hours=1)
    #: which loaded files to recount: recent, all or none (``cloudz.reconcile.recount``)
    recount: str = "recent"

    @property
    def live(self) -> bool:
        """The scheduled view (every collector, up to today): the only one whose counts and
        silence flags are the deployment's state, so the only one that sets the gauges."""
        return not self.collectors and self.judges_silence

    @property
    def judges_silence(self) -> bool:
        """Silence is the time since the newest file: known only if the window reaches today
        and starts a day before (the longest allowance, a RIB's, is hours)."""
        today = self.now.date()
        return self.last >= today and self.first < today

    @classmethod
    def of(cls, settings: Settings, params: dict[str, Any], now: dt.datetime) -> Window:
        """From the run's params, else the last ``reconcile_lookback_days`` up to today."""
        # a plain datetime: pendulum's (Airflow's) intervals do not divide by a timedelta
        now = dt.datetime.fromtimestamp(now.timestamp(), dt.UTC)
        last = _day(params.get("to_day")) or now.date()
        first = _day(params.get("from_day")) or last - dt.timedelta(
            days=max(settings.reconcile_lookback_days - 1, 1)
        )
        if first > last:
            raise ValueError(f"from_day {first} is after to_day {last}")
        if (last - first).days >= MAX_WINDOW_DAYS:
            raise ValueError(
                f"{first}..{last} is longer than {MAX_WINDOW_DAYS} days: run one window per month"
            )
        names = tuple(
            n.strip() for n in str(params.get("collectors") or "").split(",") if n.strip()
        )
        settle = params.get("settle_minutes")
        minutes = settings.reconcile_settle_minutes if settle in (None, "") else int(settle)
        recount = str(params.get("recount") or "recent")
        return cls(first, last, now, names, dt.timedelta(minutes=minutes), recount)


def _day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None


def skip_by_policy(
    to_heal: list[dict[str, Any]], policy: load_policy.LoadPolicy
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """The unloaded files the load policy loads, and those it leaves with its reason: those
    are not missing rows but archived on purpose (``cloudz-backfill --ignore-load-policy``
    loads them), so healing them would undo the policy."""
    kept, left = [], []
    for item in to_heal:
        decision = policy.decide(paths.parse(item["archive_path"]))
        if decision.load:
            kept.append(item)
        else:
            left.append((item, decision.reason))
    return kept, left


def not_loaded_rows(
    left: list[tuple[dict[str, Any], str]],
    catalog: Mapping[tuple[str, str], Any],
    run_id: str | None,
) -> list[file_catalog.CatalogRow]:
    """Catalog rows for the files the policy leaves that have none yet (archived while no run
    could start, e.g. Airflow down): the catalog then says why they hold no rows."""
    return [
        file_catalog.not_loaded_row(
            ArchivedFile.of(item["archive_path"], item["sha256"], int(item.get("size") or 0)),
            reason,
            run_id=run_id,
        )
        for item, reason in left
        if (item["archive_path"], item["sha256"]) not in catalog
    ]


def scan(gcp_conn_id: str, settings: Settings, window: Window) -> dict[str, Any]:
    """List the window, compare with the catalog and Airflow, write coverage rows, emit
    the freshness gauges; ``{"findings", "flagged", "to_heal", "to_recount"}``."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from cloudz.batch.plan import catalog_newest

    bucket = GCSHook(gcp_conn_id=gcp_conn_id).get_conn().bucket(settings.bucket)
    client = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False).get_client(
        project_id=settings.gcp_project
    )
    listed = load_collectors(settings.collectors_file or DEFAULT_PATH)
    chosen = set(window.collectors) or {
        n.strip() for n in settings.archive_collectors.split(",") if n.strip()
    }
    expected = [
        c for c in listed.active_between(window.first, window.last + dt.timedelta(days=1))
        if not chosen or c.name in chosen
    ]  # fmt: skip
    names = set(window.collectors) or (
        bucket_scan.bucket_collectors(bucket) | {c.name for c in listed}
    )
    found_in_bucket = bucket_scan.scan(bucket, names, window.first, window.last)
    months = {f"{r.path.split('/')[2].replace('.', '-')}-01" for r in found_in_bucket.raw}
    named = (
        dt.datetime.combine(window.first, dt.time(), dt.UTC),
        dt.datetime.combine(window.last + dt.timedelta(days=1), dt.time(), dt.UTC),
    )
    catalog = catalog_newest(
        client, settings.files_ref, {r.collector for r in found_in_bucket.raw}, months, named
    )
    try:
        active: list[airflow_api.ActiveRun] | None = airflow_api.active_runs(
            settings.airflow_url, settings.airflow_user, settings.airflow_password, contract.DAG_ID
        )
    except httpx.HTTPError as exc:
        # without the runs a file's own run may be on it: heal nothing, still flag and count
        log.warning("Airflow's REST API did not answer (%s): nothing is healed this run", exc)
        active = None
    findings = classify(
        found_in_bucket,
        catalog,
        active,
        bucket=settings.bucket,
        now=window.now,
        settle=window.settle,
        stuck_after=dt.timedelta(minutes=settings.reconcile_stuck_minutes),
    )
    # the failed files whatever their names, as the coverage page lists them
    catalog_failed = coverage_report.failed_files(
        client,
        settings.files_ref,
        coverage_report.DayRange(window.first, window.last),
        window.collectors or None,
        CATALOG_FAILED_LIMIT,
    )
    add_catalog_failures(findings, catalog_failed.files)
    days = bucket_scan.days_between(window.first, window.last)
    seen_before = (
        coverage_table.last_seen(
            client, settings.coverage_ref, window.first - dt.timedelta(days=SEEN_BEFORE_DAYS)
        )
        if window.judges_silence
        else {}
    )
    rows, fresh = freshness.check(
        found_in_bucket.raw,
        expected,
        {c.name for c in listed},
        days,
        window.now,
        window.settle,
        judge_silence=window.judges_silence,
        seen_before=seen_before,
    )
    coverage_table.record(client, settings.coverage_ref, rows)
    for f in fresh if window.judges_silence else ():
        tags = {"collector": f.collector, "kind": f.kind}
        age = f.age_seconds(window.now)
        if age is not None:
            task_metrics.gauge("collector.last_file_age_seconds", age, **tags)
        task_metrics.gauge("collector.silent", int(f.silent), **tags)
        task_metrics.gauge("collector.unknown", int(not f.known), **tags)
    flagged = [
        {
            "collector": f.collector,
            "kind": f.kind,
            "latest": f.latest.isoformat() if f.latest else None,
            "silent": f.silent,
            "known": f.known,
        }
        # the listed collectors gone silent first: the capped report keeps them
        for f in sorted(fresh, key=lambda f: (not f.silent, f.collector, f.kind))
        if f.silent or not f.known
    ]
    work = GCSHook(gcp_conn_id=gcp_conn_id).get_conn().bucket(settings.working_bucket)
    unloaded, by_policy = skip_by_policy(findings.to_heal, load_policy_source.current(settings))
    policy_rows = not_loaded_rows(by_policy, catalog, None)
    if policy_rows:
        ids = [f"{r.state}/{r.archive_path}/{r.sha256}" for r in policy_rows]
        file_catalog.record_many(client, settings.files_ref, policy_rows, ids)
    to_heal, adopted = adopt.adopt_loaded(
        gcp_conn_id, client, work, settings.table_ref, settings.files_ref, unloaded
    )
    report = findings.report()
    report["to_heal"] = len(to_heal)
    report["not_loaded_by_policy"] = len(by_policy)
    report["adopted"] = adopted[:REPORT_LIMIT]
    report["adopted_count"] = len(adopted)
    report["flagged_count"] = len(flagged)
    log.info("reconcile of %s..%s: %s", window.first, window.last, report)
    for item in flagged:
        log.warning(
            "collector %s %s: %s (newest file %s)",
            item["collector"],
            item["kind"],
            "silent" if item["silent"] else "not in the collector list",
            item["latest"] or "none in the window",
        )
    to_recount = recount.candidates(
        catalog,
        ((r.path, r.sha256) for r in found_in_bucket.raw),
        bucket=settings.bucket,
        now=window.now,
        mode=window.recount,
    )
    return {
        "findings": report,
        "flagged": flagged[:REPORT_LIMIT],  # all of them are in the log and the coverage table
        "live": window.live,
        "to_heal": to_heal,
        "to_recount": to_recount,
    }


def report(
    scanned: dict[str, Any], loaded: dict[str, Any], recounted: dict[str, Any]
) -> dict[str, Any]:
    """The run's report (its XCom), logged for the task log, and the backlog gauges."""
    findings = scanned["findings"]
    out = {
        "recounted": int(recounted.get("recounted", 0)),
        "recount_differed": int(recounted.get("differed", 0)),
        "reloaded": recounted.get("reloaded") or [],
        "reload_unresolved": recounted.get("unresolved") or [],
        **findings,
        "healed": int(loaded.get("loaded", 0)) + int(loaded.get("loaded_by_others", 0)),
        "heal_rows": int(loaded.get("rows_loaded", 0)),
        "heal_left": loaded.get("left_for_next_run") or {},
        "heal_busy": loaded.get("busy_elsewhere") or [],
        "flagged": scanned["flagged"],
    }
    if scanned.get("live"):
        # files no run will load that this run did not load either
        task_metrics.gauge("reconcile.backlog", findings["to_heal"] - out["healed"])
        task_metrics.gauge("reconcile.in_flight", findings["in_flight"])
        task_metrics.gauge(
            "reconcile.not_loaded_by_policy", findings.get("not_loaded_by_policy", 0)
        )
        task_metrics.gauge("reconcile.failed_files", findings["failed_count"])
        task_metrics.gauge("reconcile.stuck_runs", findings["stuck_runs_count"])
        task_metrics.gauge("reconcile.orphan_avro", findings["orphan_avro_count"])
        task_metrics.gauge("reconcile.reload_unresolved", len(out["reload_unresolved"]))
        task_metrics.gauge("reconcile.last_success_timestamp", time.time())
    lines = [
        f"archived {out['archived']}, loaded {out['loaded']}, in flight {out['in_flight']}, "
        f"healed {out['healed']} of {out['to_heal']} ({out['heal_rows']} rows), "
        f"not loaded by the load policy {out.get('not_loaded_by_policy', 0)}",
    ]
    lines += [
        f"FAILED {f['archive_path']} at {f['stage']}: {f['reason']} (run {f['run_id']})"
        for f in findings["failed"]
    ]
    lines += [
        f"STUCK run {r['run_id']} {r['state']} since {r['since']}" for r in findings["stuck_runs"]
    ]
    lines += [
        f"RELOADED {r['archive_path']}: the table held {r['found']} rows of {r['rows']}"
        for r in out["reloaded"]
    ]
    lines += [
        f"COUNT WRONG {r['archive_path']}, not reloaded: {r['reason']}"
        for r in out["reload_unresolved"]
    ]
    lines += [
        f"ADOPTED {a['archive_path']}: loaded by its own run's job {a['load_job']}"
        for a in findings.get("adopted", [])
    ]
    lines += [f"AVRO WITHOUT RAW {name}" for name in findings["orphan_avro"]]
    lines += [f"UNVERIFIED (no sha256) {name}" for name in findings["unverified"]]
    lines += [
        f"{'SILENT' if f['silent'] else 'UNKNOWN'} {f['collector']} {f['kind']}, "
        f"newest {f['latest']}"
        for f in scanned["flagged"]
    ]
    log.info("reconcile report:\n%s", "\n".join(lines))
    return out
