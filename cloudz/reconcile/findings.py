"""What the reconcile finds in the bucket, the files catalog and Airflow, file by file.

Each archived file of the window falls in one class:

- **loaded**: its newest catalog row says loaded or partial;
- **failed**: its newest row says failed (with stage, reason and run): reported, not
  retried here. Its run already retried; the coverage page re-runs it after a look. The
  catalog's failed files of the window that the scan cannot classify (a name the archive's
  rules refuse now is a stray to the scan: no date, a date outside its folder) are reported
  too (:func:`add_catalog_failures`, from the coverage page's own query), so every file the
  catalog holds as failed is in the report of a window, whatever its name;
- **in flight**: no row yet, and its per-file run is queued or running, or it was archived
  less than the settle time ago: its own run is on it;
- **to heal**: no row, no run on it, archived long enough ago: no run will ever load it
  (Airflow was down at upload, the run was deleted). The reconcile converts and loads it
  in batch, without any collector action; its load claim keeps the rows single should a
  late run of its own load it too;
- **unverified**: no sha256 in its metadata (not written by the receiver or the mirror):
  nothing to check the bytes against, left for a person.

Besides files: Avro objects without their raw object, and per-file runs unfinished for
longer than ``stuck_after``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudz.archive import paths
from cloudz.reconcile.airflow_api import ActiveRun
from cloudz.reconcile.bucket_scan import BucketScan
from cloudz.warehouse import file_catalog
from cloudz.warehouse.coverage_report import CatalogFile

#: entries of each list kept in the report (the counts are always whole)
REPORT_LIMIT = 200


@dataclass
class Findings:
    archived: int = 0
    loaded: int = 0
    in_flight: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    to_heal: list[dict[str, Any]] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    orphan_avro: list[str] = field(default_factory=list)
    stuck_runs: list[dict[str, Any]] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """A JSON-able summary: counts, and the first entries of each list."""
        out: dict[str, Any] = {
            "archived": self.archived,
            "loaded": self.loaded,
            "in_flight": self.in_flight,
            "to_heal": len(self.to_heal),
        }
        for name in ("failed", "unverified", "orphan_avro", "stuck_runs", "strays"):
            entries = getattr(self, name)
            out[f"{name}_count"] = len(entries)
            out[name] = entries[:REPORT_LIMIT]
        return out


def classify(
    scan: BucketScan,
    catalog: Mapping[tuple[str, str], Mapping[str, Any]],
    active: Iterable[ActiveRun] | None,
    *,
    bucket: str,
    now: dt.datetime,
    settle: dt.timedelta,
    stuck_after: dt.timedelta,
) -> Findings:
    """Sort the scanned files (see the module's docstring). ``active`` None: the per-file
    runs are not known (Airflow's API did not answer), so no file is taken to heal."""
    known_runs = active is not None
    active = list(active or ())
    running = {run.run_id for run in active}
    found = Findings(
        archived=len(scan.raw), orphan_avro=scan.orphan_avro, strays=sorted(scan.strays)
    )
    for obj in scan.raw:
        if not obj.sha256:
            found.unverified.append(obj.path)
            continue
        row = catalog.get((obj.path, obj.sha256))
        state = row["state"] if row else None
        if state in (file_catalog.STATE_LOADED, file_catalog.STATE_PARTIAL):
            found.loaded += 1
        elif row is not None and state == file_catalog.STATE_FAILED:
            found.failed.append(
                {
                    "archive_path": obj.path,
                    "sha256": obj.sha256,
                    "stage": row.get("stage"),
                    "reason": row.get("reason"),
                    "run_id": row.get("run_id"),
                }
            )
        elif (
            not known_runs
            or paths.run_id(paths.parse(obj.path), obj.sha256) in running
            or (obj.created is not None and now - obj.created < settle)
        ):
            found.in_flight += 1
        else:
            path = paths.parse(obj.path)
            found.to_heal.append(
                {
                    "bucket": bucket,
                    "archive_path": obj.path,
                    "collector": path.collector,
                    "avro_object": path.avro_path,
                    "sha256": obj.sha256,
                    "size": obj.size,
                }
            )
    found.stuck_runs = [
        run.to_dict() for run in active if run.since is not None and now - run.since > stuck_after
    ]
    return found


def add_catalog_failures(found: Findings, failed: Iterable[CatalogFile]) -> None:
    """Add the catalog's failed files of the window that the scan did not report (see the
    module's docstring), after those it did."""
    seen = {(f["archive_path"], f["sha256"]) for f in found.failed}
    for f in failed:
        if (f.archive_path, f.sha256) in seen:
            continue
        seen.add((f.archive_path, f.sha256))
        found.failed.append(
            {
                "archive_path": f.archive_path,
                "sha256": f.sha256,
                "stage": f.stage,
                "reason": f.reason,
                "run_id": f.run_id,
            }
        )
