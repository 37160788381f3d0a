"""Quarantine one archived file version, step by step, safe to run again after a crash.

The steps, in this order (each says what a crash right after it leaves, and what a second run
does then):

1. the audit's *started* row (who, when, why, sha256, size). Left: only the row; again: steps
   2-7, no second *started* row.
2. the raw object copied to ``_quarantine/<path>/<sha256>/`` in the working bucket,
   create-only from the generation read, then read back (:mod:`cloudz.quarantine.objects`).
   Left: a copy, the path unchanged; again: the copy is found with the same bytes and kept.
3. each Avro part (``<path>.avro*``) moved there (copy, verify, delete that generation). Left:
   some parts moved; again: the rest are moved. The raw file is still at its path, so the
   parts there are this version's.
4. the version's rows deleted from the routes table, one DML per monthly partition
   (:mod:`cloudz.quarantine.route_rows`), filtered on path *and* sha256. Left: rows gone, the
   path still held (a collector's new upload still gets CONFLICT, so no new rows can mix in:
   the per-file checks count a path's rows without its sha256, ``cloudz.warehouse.file_rows``,
   so the old rows must be gone before the path opens); again: 0 rows deleted.
5. the raw object deleted at the generation that was copied: from here the path is open and
   the collector's correct upload is STORED. A writer that replaced the object meanwhile is
   never deleted (the move stops). Again: the path is empty or holds the replacement; the
   version is found in quarantine and the run goes on at step 6.
6. the files catalog gets a *quarantined* row for (path, sha256): ``files_latest`` and the
   receiver then read the version as quarantined. Again: written only if not the newest.
7. the audit's *quarantined* row (objects moved, rows deleted). Once it is there, a run is a
   no-op, except that it records the replacement's sha256 (a *replaced* row) the first time it
   finds other bytes at the path.

Nothing else refuses the replacement: its run id, load job ledger and load claim all carry its
own sha256 (:func:`cloudz.archive.paths.run_id`, ``load_step.job_id_base``,
``load_claims``), and so do its catalog rows. The quarantined version's ledger, claim and run
stay as they were (its history); its bytes are refused by the receiver if sent again
(:func:`cloudz.quarantine.objects.is_quarantined`).

Quarantine a file after its run has ended: a conversion or load still running for the bad
version could write its Avro parts or rows after steps 3-4.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile
from cloudz.quarantine import audit, objects, route_rows
from cloudz.warehouse import file_catalog

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

log = logging.getLogger(__name__)


class NotQuarantinable(RuntimeError):
    """The path does not hold that version, and it is not in quarantine either."""


@dataclass(frozen=True)
class Places:
    """The buckets and tables a quarantine reads and writes."""

    bucket: str
    work_bucket: str
    routes_ref: str
    files_ref: str
    audit_ref: str


@dataclass
class Outcome:
    archive_path: str
    sha256: str
    quarantine_uri: str
    #: quarantined (this run did or finished it), already (a no-op), replacement recorded
    action: str
    steps: list[str] = field(default_factory=list)
    avro_objects: int = 0
    rows_deleted: int = 0
    replacement_sha256: str | None = None


def _quarantined_objects(work: Any, archive_path: str, sha256: str) -> list[str]:
    prefix = objects.prefix_of(archive_path, sha256)
    return sorted(
        b.name for b in work.list_blobs(prefix=prefix, fields="items(name),nextPageToken")
    )


def quarantine(
    gcs: storage.Client,
    bq: bigquery.Client,
    places: Places,
    archive_path: str,
    sha256: str,
    *,
    reason: str,
    operator: str,
) -> Outcome:
    """Quarantine the version ``sha256`` of ``archive_path`` (see the module's steps)."""
    path = paths.parse(archive_path)
    sha256 = paths.check_sha256(sha256)
    archive = gcs.bucket(places.bucket)
    work = gcs.bucket(places.work_bucket)
    prefix = objects.prefix_of(path.path, sha256)
    out = Outcome(path.path, sha256, f"gs://{places.work_bucket}/{prefix}", action="quarantined")

    def audit_row(state: str, **extra: Any) -> audit.AuditRow:
        return audit.row_of(
            path, sha256, state=state, reason=reason, operator=operator,
            quarantine_prefix=out.quarantine_uri, **extra,
        )  # fmt: skip

    mine = [r for r in audit.rows_of(bq, places.audit_ref, path) if r["sha256"] == sha256]
    raw = archive.get_blob(path.path)
    held = objects.raw_sha256(raw) if raw is not None else ""

    if any(r["state"] == audit.STATE_QUARANTINED for r in mine):
        out.action = "already"
        out.avro_objects = len(_quarantined_objects(work, path.path, sha256)) - 1
        recorded = {r.get("replacement_sha256") for r in mine}
        if held and held != sha256:
            out.replacement_sha256 = held
            if held not in recorded:
                audit.record(
                    bq, places.audit_ref,
                    audit_row(audit.STATE_REPLACED, size=raw.size, replacement_sha256=held),
                )  # fmt: skip
                out.action = "replacement recorded"
                out.steps.append(f"audit: replaced by sha256 {held}")
        return out

    in_quarantine = objects.is_quarantined(work, path.path, sha256)
    if raw is not None and held != sha256:
        if not in_quarantine:
            raise NotQuarantinable(
                f"{path.path} holds sha256 {held or '(none)'}, not {sha256}: nothing quarantined"
            )
        raw = None  # moved by an earlier run; another upload came since
        out.replacement_sha256 = held
    if raw is None and not in_quarantine:
        raise NotQuarantinable(
            f"nothing is archived at {path.path}, and {sha256} is not in quarantine"
        )

    size = int(raw.size) if raw is not None else None
    if not mine:
        audit.record(bq, places.audit_ref, audit_row(audit.STATE_STARTED, size=size))
        out.steps.append("audit: started")

    if raw is not None:
        objects.copy(raw, work, objects.raw_name(path.path, sha256))
        out.steps.append(f"raw copied to {out.quarantine_uri}")
        for part in archive.list_blobs(prefix=path.avro_path):
            if paths.derived_source(part.name) is None:
                continue  # no part name (the conversion deletes such objects itself)
            objects.move(part, work, objects.quarantine_name(path.path, sha256, part.name))
            out.steps.append(f"moved {part.name}")

    catalog = [
        r
        for r in file_catalog.stored_rows(bq, places.files_ref, path.path)
        if r.get("sha256") == sha256
    ]
    records = [(r.get("first_record"), r.get("last_record")) for r in catalog]
    window = route_rows.version_window(path, records)
    deletes = route_rows.delete_version(bq, places.routes_ref, path, sha256, window)
    out.rows_deleted = sum(d.deleted for d in deletes)
    out.steps.append(f"{out.rows_deleted} rows deleted in {len(deletes)} partition(s)")

    if raw is not None:
        objects.delete_generation(raw)
        out.steps.append(f"{path.path} (generation {raw.generation}) deleted: the path is open")

    if not catalog or catalog[-1]["state"] != file_catalog.STATE_QUARANTINED:
        size = size or (int(catalog[-1]["size"] or 0) if catalog else 0)
        file = ArchivedFile(path, sha256, size or 0)
        row = file_catalog.row_of(
            file,
            state=file_catalog.STATE_QUARANTINED,
            stage="quarantine",
            reason=f"quarantined by {operator}: {reason} (bytes kept at {out.quarantine_uri})",
        )
        file_catalog.record(bq, places.files_ref, row, f"quarantine|{path.path}|{sha256}")
        out.steps.append("catalog: quarantined")

    out.avro_objects = len(_quarantined_objects(work, path.path, sha256)) - 1
    audit.record(
        bq, places.audit_ref,
        audit_row(
            audit.STATE_QUARANTINED, size=size, avro_objects=out.avro_objects,
            rows_deleted=out.rows_deleted, replacement_sha256=out.replacement_sha256,
        ),
    )  # fmt: skip
    out.steps.append("audit: quarantined")
    return out
