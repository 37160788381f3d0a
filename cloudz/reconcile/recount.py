"""Do the routes table and the catalog agree on each loaded file's rows? Reload where not.

Every load already proved its count when it ran; a recount catches what happened after (a
hand-run DML, a load from outside the pipeline, a race that should not exist). It counts
each file's rows by ``source_path`` within the days its records fall in, one query per
window of days for all the files in it, ``collector`` filtered so the clustering prunes the
other collectors' blocks: the bytes read are about those of the files' own rows (~80 bytes
per row: ``timestamp``, ``collector``, ``source_path``), the same as the loads' own checks.
By default only the files whose catalog row is newer than ``RECENT`` are recounted, so an
hourly run reads each loaded row once more; a manual run with ``recount=all`` covers its
whole window (docs/operations.md gives the cost per day).

A file whose count differs is reloaded: its rows are deleted (one DML statement bounded to
its days and collector) and its Avro object is loaded again by a load job from a ledger of
its own, then counted, and a catalog row says what was found. A retry finds the ledger's
finished job and does not load twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cloudz import file_catalog
from cloudz.file_rows import TimeWindow

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)

#: catalog rows newer than this are recounted by a default (hourly) run
RECENT = dt.timedelta(hours=2)
TASK_ID = "recount"


def candidates(
    catalog: Mapping[tuple[str, str], Mapping[str, Any]],
    archived: Iterable[str],
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
        if path not in present or not row.get("rows") or row.get("first_record") is None:
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


def count(
    client: bigquery.Client, table_ref: str, entries: Iterable[Mapping[str, Any]]
) -> dict[str, int]:
    """Rows per archive path in the table, one query per window of days."""
    from google.cloud import bigquery

    by_window: dict[TimeWindow, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_window[_window(entry)].append(entry)
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
    """Recount ``entries``, reload each that differs; the task's XCom summary."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, use_legacy_sql=False)
    client = hook.get_client(project_id=table_ref.split(".", 1)[0])
    counted = count(client, table_ref, entries)
    wrong = [e for e in entries if counted[e["archive_path"]] != e["rows"]]
    reloaded, unresolved = [], []
    for entry in wrong:
        found = counted[entry["archive_path"]]
        log.warning(
            "%s: the table holds %d rows, the catalog says %d: reloading",
            entry["archive_path"],
            found,
            entry["rows"],
        )
        try:
            job_id = _reload(context, hook, client, table_ref, entry)
        except Exception as exc:  # one file's trouble is reported, the others go on
            log.error("%s not reloaded: %s", entry["archive_path"], exc)
            unresolved.append({"archive_path": entry["archive_path"], "reason": str(exc)[:500]})
            continue
        _record(context, gcp_conn_id, files_ref, entry, found, job_id)
        reloaded.append(
            {"archive_path": entry["archive_path"], "found": found, "rows": entry["rows"]}
        )
    summary = {
        "recounted": len(entries),
        "differed": len(wrong),
        "reloaded": reloaded,
        "unresolved": unresolved,
    }
    log.info("recount: %s", summary)
    return summary


def ledger_base(table_ref: str, entry: Mapping[str, Any]) -> str:
    """One ledger per catalog row found wrong: its retries share it, a later mismatch (after
    the reload's own catalog row) gets a new one."""
    key = f"{table_ref}|{entry['archive_path']}|{entry['sha256']}|{entry['recorded_at']}"
    return f"cloudz_reload_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _reload(
    context: Any, hook: Any, client: bigquery.Client, table_ref: str, entry: Mapping[str, Any]
) -> str:
    """Delete the file's rows and load its Avro object again; the load job's id."""
    from google.cloud import bigquery

    from cloudz.file_pipeline.load_step import LoadLedger, succeeded

    path, window = entry["archive_path"], _window(entry)
    ledger = LoadLedger(
        hook,
        client,
        table_ref=table_ref,
        bucket=entry["bucket"],
        base=ledger_base(table_ref, entry),
        task_id=TASK_ID,
    )
    history = ledger.history()  # waits for a running job of an earlier try
    done = [job for job in history if succeeded(job)]
    if not done:
        params = [
            *window.query_parameters(),
            bigquery.ScalarQueryParameter("collector", "STRING", entry["collector"]),
            bigquery.ScalarQueryParameter("path", "STRING", path),
        ]
        client.query(
            f"DELETE FROM `{table_ref}` WHERE {window.where()} "
            "AND collector = @collector AND source_path = @path",
            job_config=bigquery.QueryJobConfig(query_parameters=params),
        ).result()
        done = [ledger.load(len(history), context, [f"{path}.avro"])]
    after = count(client, table_ref, [entry])[path]
    if after != entry["rows"]:
        raise RuntimeError(
            f"after reload job {done[-1].job_id} the table holds {after} rows, "
            f"the catalog says {entry['rows']}: look at the Avro object and re-run the file"
        )
    return str(done[-1].job_id)


def _record(
    context: Any,
    gcp_conn_id: str,
    files_ref: str,
    entry: Mapping[str, Any],
    found: int,
    job_id: str,
) -> None:
    from cloudz.file_pipeline import catalog_step

    def micros(value: str) -> int:
        return int(dt.datetime.fromisoformat(value).timestamp() * 1_000_000)

    ti = context["ti"]
    row = file_catalog.row_of(
        entry["archive_path"],
        entry["sha256"],
        state=entry["state"],
        report={
            "rows": entry["rows"],
            "time_range": (micros(entry["first_record"]), micros(entry["last_record"])),
        },
        reason=f"reloaded: the table held {found} rows, the catalog {entry['rows']}",
        run_id=ti.run_id,
        load_job=job_id,
    )
    file_catalog.record(
        catalog_step.client(gcp_conn_id, files_ref), files_ref, row, f"{ti.run_id}/{job_id}"
    )
