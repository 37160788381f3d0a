"""A generated catalog of 58 collectors x 14 days for the coverage page's browser test.

Every collector uploads its cadence (12 RIBs, 96 update files a day), all loaded, and the
reconcile checked every day, except the cases below, each on a collector of its own so the
page's answers can be stated in advance (``EXPECTED``). The rows are written with one load
job per table (``seed``), not row by row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

COLLECTORS = [f"rv-scale-{n:02d}" for n in range(1, 59)]
LAST = dt.date(2025, 6, 15)
DAYS = [LAST - dt.timedelta(days=i) for i in range(14)]
SHA = "5" * 64
CHECKED = dt.time(23, 30)

OUTAGE = COLLECTORS[2]  # rv-scale-03: the last two days' update files stop at 10:00; silent
PARTIAL = COLLECTORS[3]  # 5 update files partial on 06-10
RERUN = COLLECTORS[5]  # 3 update files of the last day failed at load in their own runs
NOT_MRT = COLLECTORS[6]  # a RIB of 06-12 is not MRT: failed twice at convert
BATCH = COLLECTORS[7]  # an update file of 06-14 failed at load in a mirror run: Run
UNKNOWN = COLLECTORS[8]  # not in the collector list
NO_CHECK = COLLECTORS[9]  # the last day has no reconcile check yet
POLICY = COLLECTORS[10]  # 8 of 12 RIBs a day left out by the load policy
MISFILED = COLLECTORS[11]  # a failed file named 2025-07-15 in the 2025.06 folder
UNDATED = COLLECTORS[12]  # a loaded file whose name carries no date
AFTER_CHECK = COLLECTORS[13]  # 6 update files of the last day archived after the check
NO_OUTCOME = COLLECTORS[14]  # 2 update files of the last day archived with no outcome yet

BATCH_RUN = "scheduled__2025-06-15T00:00:00+00:00"
BATCH_PATH = f"{BATCH}/bgpdata/2025.06/UPDATES/updates.20250614.1200.bz2"
MISFILED_PATH = f"{MISFILED}/bgpdata/2025.06/UPDATES/updates.20250715.1200.bz2"
UNDATED_PATH = f"{UNDATED}/bgpdata/2025.06/UPDATES/quagga.bz2"
NOT_MRT_REASON = "not an MRT file: the first record has MRT type 20549 (not one MRT defines)"


def path_of(collector: str, day: dt.date, kind: str, minute: int) -> str:
    name = "rib" if kind == "RIBS" else "updates"
    hhmm = f"{minute // 60:02d}{minute % 60:02d}"
    return f"{collector}/bgpdata/{day:%Y.%m}/{kind}/{name}.{day:%Y%m%d}.{hhmm}.bz2"


def own_run(path: str, sha256: str = SHA) -> str:
    return f"mrt:{path.replace('/', '~')}:{sha256[:16]}"


@dataclass
class Catalog:
    files: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def outcome(
        self,
        path: str,
        state: str,
        recorded: dt.datetime,
        *,
        named: dt.datetime | None,
        stage: str | None = None,
        reason: str | None = None,
        run_id: str | None = None,
        sha256: str = SHA,
    ) -> None:
        collector, _, folder, kind, _ = path.split("/")
        self.files.append(
            {
                "archive_path": path,
                "collector": collector,
                "kind": kind,
                "dump_time": named.isoformat() if named else None,
                "month": f"{folder.replace('.', '-')}-01",
                "sha256": sha256,
                "state": state,
                "stage": stage,
                "reason": reason,
                "run_id": run_id or own_run(path, sha256),
                "recorded_at": recorded.isoformat(),
            }
        )


def _at(day: dt.date, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(minutes=minute)


def generate(batch_sha256: str) -> Catalog:
    """The catalog and checks; ``batch_sha256``: the real file the Run test archives."""
    out = Catalog()
    for collector in COLLECTORS:
        for day in DAYS:
            for kind, step in (("RIBS", 120), ("UPDATES", 15)):
                expected = 1440 // step
                minutes = list(range(0, 1440, step))
                if collector == OUTAGE and kind == "UPDATES" and day >= LAST - dt.timedelta(1):
                    minutes = minutes[:40]
                for i, minute in enumerate(minutes):
                    path = path_of(collector, day, kind, minute)
                    named = _at(day, minute)
                    recorded = named + dt.timedelta(minutes=5)
                    state = "loaded"
                    if collector == PARTIAL and kind == "UPDATES" and day == LAST - dt.timedelta(5):
                        state = "partial" if i < 5 else state
                    if collector == POLICY and kind == "RIBS" and i % 3:
                        state = "not_loaded_by_policy"
                    if collector == NO_OUTCOME and day == LAST and kind == "UPDATES" and i < 2:
                        continue  # archived, no outcome recorded
                    if collector == RERUN and day == LAST and kind == "UPDATES" and i < 3:
                        if i == 0:  # failed, cleared, failed again
                            out.outcome(path, "failed", recorded, named=named, stage="load",
                                        reason="load job failed: 503 backend error")  # fmt: skip
                            recorded += dt.timedelta(hours=1)
                        out.outcome(path, "failed", recorded, named=named, stage="load",
                                    reason="load job failed: 503 backend error")  # fmt: skip
                        continue
                    if (
                        collector == NOT_MRT and kind == "RIBS" and day == LAST - dt.timedelta(3)
                    ) and i == 0:  # failed, re-run, failed the same way
                        for extra in (0, 90):
                            out.outcome(path, "failed", recorded + dt.timedelta(minutes=extra),
                                        named=named, stage="convert",
                                        reason=NOT_MRT_REASON)  # fmt: skip
                        continue
                    if path == BATCH_PATH:
                        out.outcome(path, "failed", recorded, named=named, stage="load",
                                    reason="load job failed: quota exceeded",
                                    run_id=BATCH_RUN, sha256=batch_sha256)  # fmt: skip
                        continue
                    out.outcome(path, state, recorded, named=named)
                archived = len(minutes)
                if collector == AFTER_CHECK and day == LAST and kind == "UPDATES":
                    archived -= 6
                if collector == NO_CHECK and day == LAST:
                    continue
                out.checks.append(
                    {
                        "day": day.isoformat(),
                        "collector": collector,
                        "kind": kind,
                        "expected": expected,
                        "archived": archived,
                        "latest_dump": _at(day, minutes[-1]).isoformat(),
                        "known": collector != UNKNOWN,
                        "silent": collector == OUTAGE and kind == "UPDATES" and day == LAST,
                        "checked_at": dt.datetime.combine(day, CHECKED, dt.UTC).isoformat(),
                    }
                )
    folder_day = dt.datetime(2025, 7, 15, 12, 0, tzinfo=dt.UTC)
    out.outcome(MISFILED_PATH, "failed", _at(LAST, 60), named=folder_day, stage="convert",
                reason="convert task timed out", run_id=BATCH_RUN)  # fmt: skip
    out.outcome(UNDATED_PATH, "loaded", _at(LAST, 60), named=None, run_id=BATCH_RUN)
    return out


#: summary line -> (collectors, files) on the last day and in the window (None: no file count)
EXPECTED: dict[str, tuple[int, int | None, int, int | None]] = {
    "missing": (1, 56, 1, 112),
    "failed": (1, 3, 4, 6),
    "partial": (0, 0, 1, 5),
    "silent": (1, None, 1, None),
    "unknown": (1, None, 1, None),
    "no outcome yet": (1, 2, 1, 2),
    "not loaded by policy": (1, 8, 1, 112),
    "name gives no day": (0, 0, 2, 2),
}
#: the failed files, worst first
FAILED_ORDER = [
    (RERUN, "load", 2),
    (RERUN, "load", 1),
    (RERUN, "load", 1),
    (NOT_MRT, "convert", 2),
    (BATCH, "load", 1),
    (MISFILED, "convert", 1),
]


def seed(client: Any, files_ref: str, coverage_ref: str, catalog: Catalog) -> None:
    """One load job per table (JSON rows), appended."""
    from google.cloud import bigquery

    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    for table, rows in ((files_ref, catalog.files), (coverage_ref, catalog.checks)):
        job = client.load_table_from_json(rows, table, job_config=config)
        job.result()
        assert job.output_rows == len(rows), (table, job.output_rows, len(rows))
