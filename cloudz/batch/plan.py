"""A run's plan: what the source holds for the range, what the archive still needs.

Three sources of truth, read once each: the source's index pages (what exists), the bucket's
listing per month directory (what is archived, with each object's sha256), and the files
catalog (what is loaded). A file the bucket lacks is to *fetch*: its conversion task fetches,
archives and converts the same local copy (no second download). An archived file is converted
when its version has no *loaded* or *partial* row, and no *failed* row for a stage a retry
cannot fix (verify, convert: a re-run of those is an operator's decision), and the load
policy loads it (``cloudz.load_policy``; a backfill may override it to load every file).
Files archived by a collector and still in their per-file run are converted here too; their
load claim keeps the rows single.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cloudz import load_policy
from cloudz.archive import paths
from cloudz.sources.files import (
    SkippedFile,
    SourceFile,
    check_not_future,
    source_file_to_dict,
)
from cloudz.warehouse import file_catalog

if TYPE_CHECKING:
    from google.cloud import bigquery

    from cloudz.archive.store import ArchiveStore
    from cloudz.sources import ArchiveSource, Collector

log = logging.getLogger(__name__)

#: stages whose failure another run would only repeat
PERMANENT_STAGES = frozenset({"verify", "convert"})
#: compressed bytes per conversion task (~30 s of conversion on one core)
CHUNK_BYTES = 64 * 1024 * 1024
#: files per conversion task at most (a day of small update files still spreads out)
MAX_FILES_PER_CHUNK = 64
#: conversion tasks per run at least, when there are that many files
MIN_CHUNKS = 4
#: mapped tasks per run, under Airflow's ``max_map_length`` (1024)
MAX_CHUNKS = 512


@dataclass
class Plan:
    listed: int = 0
    archived_before: int = 0
    to_fetch: int = 0
    done: int = 0  # loaded or partial already
    failed_before: int = 0  # failed at verify/convert: left to an operator
    #: archived, and left unloaded by the load policy (``cloudz.load_policy``)
    not_loaded_by_policy: int = 0
    unverified: list[str] = field(default_factory=list)  # objects with no sha256 metadata
    #: what the archive's rules refused, never archived: "<source>: <rule>: <why>"
    skipped: list[str] = field(default_factory=list)
    to_convert: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "to_convert"}
        out["to_convert"] = len(self.to_convert)
        return out


def catalog_newest(
    client: bigquery.Client,
    files_ref: str,
    collectors: Iterable[str],
    months: Iterable[str],
    named: tuple[datetime, datetime] | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """(archive path, sha256) -> the newest catalog row (state, stage, reason, run_id, rows,
    first and last record, recorded_at), for some months.

    Reads the base table bounded to the months' partitions (the ``files_latest`` view's
    window function would read them all) and picks the newest row here. ``named``: only the
    files named in ``[lo, hi)`` (and those whose name has no time), so a few days of a month
    do not bring the whole month's rows over the wire.
    """
    from google.cloud import bigquery

    months = sorted(set(months))
    if not months:
        return {}
    sql = (
        "SELECT archive_path, sha256, collector, state, stage, reason, run_id, rows, "
        "first_record, last_record, recorded_at "
        f"FROM `{files_ref}` "
        "WHERE month >= @first AND month <= @last AND collector IN UNNEST(@collectors)"
    )
    params: list[Any] = [
        bigquery.ScalarQueryParameter("first", "DATE", months[0]),
        bigquery.ScalarQueryParameter("last", "DATE", months[-1]),
        bigquery.ArrayQueryParameter("collectors", "STRING", sorted(set(collectors))),
    ]
    if named is not None:
        sql += " AND (dump_time IS NULL OR (dump_time >= @named_lo AND dump_time < @named_hi))"
        params += [
            bigquery.ScalarQueryParameter("named_lo", "TIMESTAMP", named[0]),
            bigquery.ScalarQueryParameter("named_hi", "TIMESTAMP", named[1]),
        ]
    config = bigquery.QueryJobConfig(query_parameters=params)
    # the newest row wins, except that a row saying the rows are in the table is never
    # undone by a later failure the other load path had with the same file
    newest: dict[tuple[str, str], tuple[bool, Any, dict[str, Any]]] = {}
    for row in client.query(sql, job_config=config).result():
        key = (row["archive_path"], row["sha256"])
        loaded = row["state"] in (file_catalog.STATE_LOADED, file_catalog.STATE_PARTIAL)
        rank = (loaded, row["recorded_at"])
        if key not in newest or rank > newest[key][:2]:
            newest[key] = (*rank, dict(row.items()))
    return {key: row for key, (_, _, row) in newest.items()}


def catalog_states(
    client: bigquery.Client, files_ref: str, collectors: Iterable[str], months: Iterable[str]
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(archive path, sha256) -> (state, stage) of the newest catalog row, for some months."""
    rows = catalog_newest(client, files_ref, collectors, months)
    return {key: (row["state"], row["stage"]) for key, row in rows.items()}


def chunked(files: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cut ``files`` into chunks of about ``CHUNK_BYTES`` (at most ``MAX_CHUNKS``).

    At most ``MAX_FILES_PER_CHUNK`` files each, unless more than ``MAX_CHUNKS`` times that
    many are planned (a long mirror window): then the chunks grow instead.

    Each chunk is one task start (~1-2 s of Airflow's own work), so small update files
    share a task, while a real RIB (80-160 MB) has one of its own. At least
    ``MIN_CHUNKS`` when there are that many files, so the pool's slots all have work; files
    are dealt largest first to the lightest chunk, so chunks weigh about the same.
    """
    if not files:
        return []
    total = sum(max(1, int(f.get("size") or 0)) for f in files)
    n = max(math.ceil(total / CHUNK_BYTES), math.ceil(len(files) / MAX_FILES_PER_CHUNK))
    n = min(len(files), MAX_CHUNKS, max(n, MIN_CHUNKS))
    per_chunk = max(MAX_FILES_PER_CHUNK, math.ceil(len(files) / n))  # > 32,768 files: grows
    heap = [(0, i) for i in range(n)]
    chunks: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for f in sorted(files, key=lambda f: (-int(f.get("size") or 0), f["archive_path"])):
        weight, i = heapq.heappop(heap)
        chunks[i].append(f)
        if len(chunks[i]) < per_chunk:  # a full chunk takes no more
            heapq.heappush(heap, (weight + max(1, int(f.get("size") or 0)), i))
    return chunks


def plan_range(
    source: ArchiveSource,
    where: str,
    store: ArchiveStore,
    catalog: bigquery.Client,
    files_ref: str,
    collectors: Sequence[Collector],
    start: date | datetime,
    end: date | datetime,
    future_skew: timedelta = paths.FUTURE_SKEW,
    policy: load_policy.LoadPolicy = load_policy.LOAD_EVERY_FILE,
) -> Plan:
    """List ``[start, end)`` of ``source`` (found at ``where``) against the bucket and catalog.

    Names the archive's rules refuse (``cloudz.archive.paths``, as the receiver applies them:
    the name in its kind folder, the month folder, a name dated after now + ``future_skew``)
    are not planned but reported in ``skipped``. A file the load ``policy`` skips is fetched
    and archived if the bucket lacks it (its item carries ``not_loaded``), never converted
    (the default loads every file; a backfill overriding the policy passes that default)."""
    listed: list[SourceFile] = []
    skipped: list[SkippedFile] = []
    for collector in collectors:
        listed.extend(source.list_files(collector, start, end, skipped=skipped))
    for f in list(listed):
        if (future := check_not_future(f, future_skew)) is not None:
            skipped.append(future)
            listed.remove(f)
    objects: dict[str, Any] = {}
    for prefix in sorted({f.archive_path.rsplit("/", 1)[0] + "/" for f in listed}):
        objects.update(store.objects_under(prefix))
    plan = Plan(listed=len(listed), skipped=[f"{s.source}: {s.rule}: {s.reason}" for s in skipped])
    for line in plan.skipped:
        log.warning("skipped %s", line)
    states = catalog_states(
        catalog,
        files_ref,
        {f.collector for f in listed},
        {f.path.month_date.isoformat() for f in listed},
    )
    for f in listed:
        path = f.path
        item: dict[str, Any] = {
            "bucket": store.bucket_name,
            "archive_path": path.path,
            "collector": path.collector,
            "avro_object": path.avro_path,
        }
        decision = policy.decide(path)
        obj = objects.get(f.archive_path)
        if obj is None:  # not archived: the conversion task fetches it
            plan.to_fetch += 1
            item.update(size=f.size, fetch={"where": where, "file": source_file_to_dict(f)})
            if not decision.load:  # archived, verified and left unconverted
                item["not_loaded"] = decision.reason
            plan.to_convert.append(item)
            continue
        plan.archived_before += 1
        if not obj.sha256:  # not written through ArchiveStore: nothing to verify against
            plan.unverified.append(f.archive_path)
            continue
        state, stage = states.get((f.archive_path, obj.sha256), (None, None))
        if state in (file_catalog.STATE_LOADED, file_catalog.STATE_PARTIAL):
            plan.done += 1
        elif state == file_catalog.STATE_FAILED and stage in PERMANENT_STAGES:
            plan.failed_before += 1
        elif not decision.load:
            plan.not_loaded_by_policy += 1
        else:
            plan.to_convert.append({**item, "sha256": obj.sha256, "size": obj.size})
    log.info("plan for %s..%s: %s", start, end, plan.summary())
    return plan
