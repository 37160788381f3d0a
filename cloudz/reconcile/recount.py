"""Do the routes table and the catalog agree on each loaded file's rows? Reload where not.

Every load already proved its count when it ran; a recount catches what happened after (a
hand-run DML, a load from outside the pipeline, a race that should not exist). It counts
each file's rows by ``source_path`` from the first to the last record of the files, one query
per window of days for all the files in it, ``collector`` filtered so the clustering prunes
the other collectors' blocks: the bytes read are about those of the files' own rows (~85
bytes per row: ``timestamp``, ``collector``, ``source_path``), as the loads' own checks.
By default only the files whose catalog row is newer than ``RECENT`` are recounted, so an
hourly run reads each loaded row once more; a manual run with ``recount=all`` covers its
whole window (docs/operations.md gives the cost per day).

A file whose count differs is reloaded: its rows are deleted (one DML statement per month
partition for all such files of the run) and its Avro object is loaded again by a load job
from a ledger of its own, then counted, and a catalog row says what was found. A retry finds
the ledger's finished job and neither deletes nor loads again. A DML statement bills the full
size of each partition it changes (a month of routes), so one run reloads at most
``MAX_RELOADS`` files and reloads nothing when more differ: that is a cause to find (a change
in counting, a load from outside), reported, not damage to repair file by file. A reload that
cannot finish (no Avro object, a failed load) leaves a *failed* catalog row at stage
``reload``: the coverage page and the alerts show it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile
from cloudz.warehouse import file_catalog
from cloudz.warehouse.file_rows import TimeWindow

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)

#: catalog rows newer than this are recounted by a default (hourly) run
RECENT = dt.timedelta(hours=2)
TASK_ID = "recount"
#: files reloaded by one run at most; more that differ is a cause to find, not damage
MAX_RELOADS = 5
#: the catalog stage of a reload that failed (its rows may be deleted: re-run the file)
STAGE_RELOAD = "reload"


def candidates(
    catalog: Mapping[tuple[str, str], Mapping[str, Any]],
    archived: Iterable[tuple[str, str]],
    *,
    bucket: str,
    now: dt.datetime,
    mode: str,
) -> list[dict[str, Any]]:
    """The loaded files to recount: ``mode`` ``recent`` (default), ``all`` or ``none``."""
    if mode not in ("recent", "all", "none"):
        raise ValueError(f"recount must be recent, all or none, not {mode!r}")
    if mode == "none":
        return []
    present = set(archived)
    out = []
    for (path, sha256), row in sorted(catalog.items()):
        if row["state"] not in (file_catalog.STATE_LOADED, file_catalog.STATE_PARTIAL):
            continue
        if (path, sha256) not in present or not row.get("rows") or row.get("first_record") is None:
            continue
        if mode == "recent" and now - row["recorded_at"] > RECENT:
            continue
        out.append(
            {
                "bucket": bucket,
                "archive_path": path,
                "sha256": sha256,
                "collector": row["collector"],
                "state": row["state"],
                "rows": int(row["rows"]),
                "first_record": row["first_record"].isoformat(),
                "last_record": row["last_record"].isoformat(),
                "recorded_at": row["recorded_at"].isoformat(),
            }
        )
    return out


def _window(entry: Mapping[str, Any]) -> TimeWindow:
    lo = dt.datetime.fromisoformat(entry["first_record"]).astimezone(dt.UTC).date()
    hi = dt.datetime.fromisoformat(entry["last_record"]).astimezone(dt.UTC).date()
    return TimeWindow.days(lo, hi)


def records_window(entries: Iterable[Mapping[str, Any]]) -> TimeWindow:
    """From the first to the last record of ``entries`` (the catalog's times, to the
    microsecond the converter wrote): every row of these files, and of the routes table
    only what arrived in the same span. A window of whole UTC days instead re-read, at each
    hourly run, the collectors' rows of the whole day so far (~12x each row a day)."""
    entries = list(entries)
    lo = min(dt.datetime.fromisoformat(e["first_record"]) for e in entries)
    hi = max(dt.datetime.fromisoformat(e["last_record"]) for e in entries)
    return TimeWindow(lo.astimezone(dt.UTC), hi.astimezone(dt.UTC) + dt.timedelta(microseconds=1))


def count(
    client: bigquery.Client, table_ref: str, entries: Iterable[Mapping[str, Any]]
) -> dict[str, int]:
    """Rows per archive path in the table: one query per window of days the files fall in,
    bounded to those files' first and last records (:func:`records_window`)."""
    from google.cloud import bigquery

    by_days: dict[TimeWindow, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_days[_window(entry)].append(entry)
    by_window = {records_window(group): group for group in by_days.values()}
    counted: dict[str, int] = {}
    for window, group in sorted(by_window.items(), key=lambda kv: kv[0].lo):
        paths = sorted({e["archive_path"] for e in group})
        sql = (
            f"SELECT source_path, COUNT(*) AS n FROM `{table_ref}` WHERE {window.where()} "
            "AND collector IN UNNEST(@collectors) AND source_path IN UNNEST(@paths) "
            "GROUP BY source_path"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[
                *window.query_parameters(),
                bigquery.ArrayQueryParameter(
                    "collectors", "STRING", sorted({e["collector"] for e in group})
                ),
                bigquery.ArrayQueryParameter("paths", "STRING", paths),
            ]
        )
        found = {r["source_path"]: int(r["n"]) for r in client.query(sql, job_config=config)}
        counted.update({path: found.get(path, 0) for path in paths})
    return counted


def recount(
    context: Any,
    gcp_conn_id: str,
    table_ref: str,
    files_ref: str,
    entries: list[dict[str, Any]],
) -> dict[str, Any]:
    """Recount ``entries``, reload those that differ (at most ``MAX_RELOADS``); the summary."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False)
    client = hook.get_client(project_id=table_ref.split(".", 1)[0])
    counted = count(client, table_ref, entries)
    wrong = [e for e in entries if counted[e["archive_path"]] != e["rows"]]
    summary: dict[str, Any] = {
        "recounted": len(entries),
        "differed": len(wrong),
        "reloaded": [],
        "unresolved": [],
    }
    for entry in wrong:
        log.warning(
            "%s: the table holds %d rows, the catalog says %d",
            entry["archive_path"],
            counted[entry["archive_path"]],
            entry["rows"],
        )
    if len(wrong) > MAX_RELOADS:
        # not damage to repair file by file: a change in counting, a load from outside
        summary["refused"] = (
            f"{len(wrong)} files differ, more than {MAX_RELOADS}: nothing reloaded; find the "
            "cause first (each reload deletes from a month partition, billed in full)"
        )
        summary["unresolved"] = [
            {"archive_path": e["archive_path"], "reason": "not reloaded: too many differ"}
            for e in wrong
        ]
        log.error("recount: %s", summary["refused"])
        return summary
    gcs = GCSHook(gcp_conn_id=gcp_conn_id).get_conn()
    reloads = [_Reload(hook, client, table_ref, e, counted[e["archive_path"]]) for e in wrong]
    ready = []
    for r in reloads:
        if not gcs.bucket(r.entry["bucket"]).blob(paths.avro_part_name(r.path, 0)).exists():
            r.fail("its Avro object is gone: re-run the file to convert it again")
        else:
            ready.append(r)
    try:
        _delete_rows([r for r in ready if not r.done], client, table_ref)
    except Exception as exc:  # nothing was deleted (a DML statement is atomic)
        for r in ready:
            r.fail(f"the delete of its rows failed: {exc}")
        ready = []
    for r in ready:
        r.load(context)
    for r in reloads:
        if r.failure:
            summary["unresolved"].append({"archive_path": r.path, "reason": r.failure})
        else:
            summary["reloaded"].append({"archive_path": r.path, "found": r.found, "rows": r.rows})
        _record(context, gcp_conn_id, files_ref, r)
    log.info("recount: %s", summary)
    return summary


def ledger_base(table_ref: str, entry: Mapping[str, Any]) -> str:
    """One ledger per catalog row found wrong: its retries share it, a later mismatch (after
    the reload's own catalog row) gets a new one."""
    key = f"{table_ref}|{entry['archive_path']}|{entry['sha256']}|{entry['recorded_at']}"
    return f"cloudz_reload_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class _Reload:
    """One file to reload: its ledger (a retry finds an earlier try's job) and outcome."""

    def __init__(
        self,
        hook: Any,
        client: bigquery.Client,
        table_ref: str,
        entry: Mapping[str, Any],
        found: int,
    ) -> None:
        from cloudz.file_pipeline.load_step import LoadLedger, succeeded

        self.client, self.table_ref, self.entry, self.found = client, table_ref, entry, found
        self.path, self.rows = str(entry["archive_path"]), int(entry["rows"])
        self.window = _window(entry)
        self.ledger = LoadLedger(
            hook,
            client,
            table_ref=table_ref,
            bucket=entry["bucket"],
            base=ledger_base(table_ref, entry),
            task_id=TASK_ID,
        )
        self.history = self.ledger.history()  # waits for a running job of an earlier try
        done = [job for job in self.history if succeeded(job)]
        #: the load job whose rows are in the table, once there is one
        self.job_id: str | None = str(done[-1].job_id) if done else None
        self.failure: str | None = None

    @property
    def done(self) -> bool:
        """An earlier try deleted and loaded already: not deleted again."""
        return self.job_id is not None

    def fail(self, reason: str) -> None:
        log.error("%s not reloaded: %s", self.path, reason)
        self.failure = reason

    def load(self, context: Any) -> None:
        try:
            if self.job_id is None:
                job = self.ledger.load(len(self.history), context, [paths.avro_pattern(self.path)])
                self.job_id = str(job.job_id)
            after = count(self.client, self.table_ref, [self.entry])[self.path]
        except Exception as exc:  # its rows are deleted: the failed catalog row says so
            self.fail(f"its rows were deleted and the load failed: {exc}")
            return
        if after != self.rows:
            self.fail(f"after reload job {self.job_id} the table holds {after} rows of {self.rows}")


def _delete_rows(reloads: list[_Reload], client: bigquery.Client, table_ref: str) -> None:
    """One DELETE per month partition for all the files of that month (a DML statement bills
    the whole partition it changes, and a table takes 2 running and 20 queued)."""
    from google.cloud import bigquery

    by_month: dict[tuple[int, int], list[_Reload]] = defaultdict(list)
    for r in reloads:
        by_month[(r.window.lo.year, r.window.lo.month)].append(r)
    for group in by_month.values():
        window = TimeWindow(min(r.window.lo for r in group), max(r.window.hi for r in group))
        params = [
            *window.query_parameters(),
            bigquery.ArrayQueryParameter(
                "collectors", "STRING", sorted({r.entry["collector"] for r in group})
            ),
            bigquery.ArrayQueryParameter("paths", "STRING", sorted(r.path for r in group)),
        ]
        client.query(
            f"DELETE FROM `{table_ref}` WHERE {window.where()} "
            "AND collector IN UNNEST(@collectors) AND source_path IN UNNEST(@paths)",
            job_config=bigquery.QueryJobConfig(query_parameters=params),
        ).result()


def _record(context: Any, gcp_conn_id: str, files_ref: str, r: _Reload) -> None:
    """The catalog row of a reload: loaded (or partial) again, or failed at stage reload."""
    from cloudz.file_pipeline import catalog_step

    def micros(value: str) -> int:
        return int(dt.datetime.fromisoformat(value).timestamp() * 1_000_000)

    ti = context["ti"]
    entry = r.entry
    if r.failure:
        state, reason = file_catalog.STATE_FAILED, r.failure
    else:
        state = entry["state"]
        reason = f"reloaded: the table held {r.found} rows, the catalog {r.rows}"
    row = file_catalog.row_of(
        ArchivedFile.of(r.path, entry["sha256"]),
        state=state,
        report={
            "rows": r.rows,
            "time_range": (micros(entry["first_record"]), micros(entry["last_record"])),
        },
        stage=STAGE_RELOAD if r.failure else None,
        reason=reason,
        run_id=ti.run_id,
        load_job=r.job_id,
    )
    file_catalog.record(
        catalog_step.client(gcp_conn_id, files_ref),
        files_ref,
        row,
        f"{ti.run_id}/{ti.try_number}/{r.path}",
    )
