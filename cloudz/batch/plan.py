"""A run's plan: what the source holds for the range, what the archive still needs.

Three sources of truth, read once each: the source's index pages (what exists), the bucket's
listing per month directory (what is archived, with each object's sha256), and the files
catalog (what is loaded). A file is converted when it is archived but its version has no
*loaded* or *partial* row, and no *failed* row for a stage a retry cannot fix (verify,
convert: a re-run of those is an operator's decision). Files archived by a collector and still
in their per-file run are converted here too; their load claim keeps the rows single.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from cloudz import archive_path as paths
from cloudz import file_catalog
from cloudz.mirror import MirrorResult, mirror_range

if TYPE_CHECKING:
    from google.cloud import bigquery

    from cloudz.archive_store import ArchiveStore
    from cloudz.sources import ArchiveSource, Collector

log = logging.getLogger(__name__)

#: stages whose failure another run would only repeat
PERMANENT_STAGES = frozenset({"verify", "convert"})
#: files per conversion task: each task costs a process start (~2 s), a file seconds to minutes
FILES_PER_CHUNK = 8
#: mapped tasks per run, under Airflow's ``max_map_length`` (1024)
MAX_CHUNKS = 512


@dataclass
class Plan:
    listed: int = 0
    archived_before: int = 0
    fetched: int = 0
    fetch_failed: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # objects with no sha256 metadata
    done: int = 0  # loaded or partial already
    failed_before: int = 0  # failed at verify/convert: left to an operator
    to_convert: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "to_convert"}
        out["to_convert"] = len(self.to_convert)
        return out


def catalog_states(
    client: bigquery.Client, files_ref: str, collectors: Iterable[str], months: Iterable[str]
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(archive path, sha256) -> (state, stage) of the newest catalog row, for some months.

    Reads the base table bounded to the months' partitions (the ``files_latest`` view's
    window function would read them all) and picks the newest row here.
    """
    from google.cloud import bigquery

    months = sorted(set(months))
    if not months:
        return {}
    sql = (
        f"SELECT archive_path, sha256, state, stage, recorded_at FROM `{files_ref}` "
        "WHERE month >= @first AND month <= @last AND collector IN UNNEST(@collectors)"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("first", "DATE", months[0]),
            bigquery.ScalarQueryParameter("last", "DATE", months[-1]),
            bigquery.ArrayQueryParameter("collectors", "STRING", sorted(set(collectors))),
        ]
    )
    newest: dict[tuple[str, str], tuple[Any, str, str | None]] = {}
    for row in client.query(sql, job_config=config).result():
        key = (row["archive_path"], row["sha256"])
        if key not in newest or row["recorded_at"] > newest[key][0]:
            newest[key] = (row["recorded_at"], row["state"], row["stage"])
    return {key: (state, stage) for key, (_, state, stage) in newest.items()}


def chunked(files: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cut ``files`` into at most ``MAX_CHUNKS`` chunks of about ``FILES_PER_CHUNK``.

    RIBs are far bigger than update files: ordered by size and dealt round-robin, every
    chunk gets a similar share of work.
    """
    if not files:
        return []
    n = min(MAX_CHUNKS, math.ceil(len(files) / FILES_PER_CHUNK))
    ordered = sorted(files, key=lambda f: (-int(f.get("size") or 0), f["archive_path"]))
    return [ordered[i::n] for i in range(n)]


def plan_range(
    source: ArchiveSource,
    store: ArchiveStore,
    catalog: bigquery.Client,
    files_ref: str,
    collectors: Sequence[Collector],
    start: date | datetime,
    end: date | datetime,
    *,
    fetches: int = 4,
) -> Plan:
    """Mirror ``[start, end)`` into the bucket, then list what is archived and not loaded."""
    mirrored: MirrorResult = mirror_range(source, store, collectors, start, end, fetches=fetches)
    plan = Plan(
        listed=mirrored.listed,
        archived_before=len(mirrored.present),
        fetched=len(mirrored.stored),
        fetch_failed=dict(mirrored.failed),
        conflicts=[a.archive_path for a in mirrored.archived if a.result == "conflict"],
    )
    wanted = set(mirrored.present) | {
        a.archive_path for a in mirrored.archived if a.result != "conflict"
    }
    # the archived version of each (what a collector uploaded may differ from the source:
    # the archive's own copy is the one converted)
    objects: dict[str, Any] = {}
    for prefix in sorted({p.rsplit("/", 1)[0] + "/" for p in wanted}):
        objects.update(store.objects_under(prefix))
    parsed = {p: paths.parse(p) for p in wanted if p in objects}
    states = catalog_states(
        catalog,
        files_ref,
        {p.collector for p in parsed.values()},
        {f"{p.year:04d}-{p.month:02d}-01" for p in parsed.values()},
    )
    for path_text, path in sorted(parsed.items()):
        obj = objects[path_text]
        if not obj.sha256:  # not written through ArchiveStore: nothing to verify against
            plan.unverified.append(path_text)
            continue
        state, stage = states.get((path_text, obj.sha256), (None, None))
        if state in (file_catalog.STATE_LOADED, file_catalog.STATE_PARTIAL):
            plan.done += 1
            continue
        if state == file_catalog.STATE_FAILED and stage in PERMANENT_STAGES:
            plan.failed_before += 1
            continue
        plan.to_convert.append(
            {
                "bucket": store.bucket_name,
                "archive_path": path.path,
                "collector": path.collector,
                "sha256": obj.sha256,
                "size": obj.size,
                "avro_object": path.avro_path,
            }
        )
    log.info("plan for %s..%s: %s", start, end, plan.summary())
    return plan
