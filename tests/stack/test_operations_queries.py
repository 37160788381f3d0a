"""The one-query answers of docs/operations.md, run on the emulator against a known set of
files-catalog and coverage rows around today: each block answers exactly what it claims.

The rows hold a file that failed and then loaded (not failed), a file that loaded and then
failed on the other load path (loaded: its rows stay), a file that failed twice (its newest
reason counts), files archived with no outcome, a silent collector, a collector
silent in an earlier check only, an unknown collector, a partial file, and rows older than
the queries' 7 days (never reported)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest

from cloudz.archive.archived_file import ArchivedFile
from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.warehouse import coverage_table, file_catalog
from cloudz.warehouse.clients import bigquery_client
from cloudz.warehouse.coverage_table import CoverageRow
from cloudz.warehouse.file_catalog import CatalogRow

pytestmark = pytest.mark.stack

SHA = "a" * 64
TIMEOUT = "TimeoutError: the load job did not finish in 600 s"
NOT_MRT = "not an MRT file: the first record header is 0x425a6839"
MISMATCH = "sha256 mismatch: the object's bytes hash to " + "b" * 64
CLAIMED = "Conflict: the load claim is held by another load path's job"
DAMAGE = {"offset": 123_456, "reason": "truncated record: 4096 bytes wanted, 1011 left"}


def _doc_queries() -> list[str]:
    text = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, re.S)


def _path(collector: str, kind: str, day: dt.date, minutes: int) -> str:
    name = "rib" if kind == "RIBS" else "updates"
    return (
        f"{collector}/bgpdata/{day:%Y.%m}/{kind}/"
        f"{name}.{day:%Y%m%d}.{minutes // 60:02d}{minutes % 60:02d}.bz2"
    )


class Catalog:
    """Catalog rows in the order they happened: each a second after the one before."""

    def __init__(self, start: dt.datetime) -> None:
        self.rows: list[CatalogRow] = []
        self.clock = start

    def add(self, path: str, state: str, **kwargs: Any) -> None:
        self.clock += dt.timedelta(seconds=1)
        row = file_catalog.row_of(ArchivedFile.of(path, SHA, 1_000_000), state=state, **kwargs)
        self.rows.append(dataclasses.replace(row, recorded_at=self.clock.isoformat()))

    def loaded(self, collector: str, kind: str, day: dt.date, slots: range) -> None:
        step = 120 if kind == "RIBS" else 15
        for slot in slots:
            self.add(
                _path(collector, kind, day, slot * step),
                "loaded",
                report={"rows": 1000, "records": 500, "parse_errors": 0},
                run_id=f"mrt:{collector}:{kind}:{day}:{slot}",
            )


def _coverage(
    day: dt.date,
    collector: str,
    kind: str,
    expected: int,
    archived: int,
    *,
    checked_at: dt.datetime,
    known: bool = True,
    silent: bool = False,
) -> CoverageRow:
    return CoverageRow(
        day=day.isoformat(),
        collector=collector,
        kind=kind,
        expected=expected,
        archived=archived,
        latest_dump=(checked_at - dt.timedelta(minutes=90 if silent else 20)).isoformat(),
        known=known,
        silent=silent,
        checked_at=checked_at.isoformat(),
    )


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    return [dict(r.items()) for r in bigquery_client(settings).query(sql).result()]


def test_the_operations_queries_answer_exactly(cloud: Settings) -> None:
    (now,) = _rows(cloud, "SELECT CURRENT_DATE() AS today, CURRENT_TIMESTAMP() AS at")
    today: dt.date = now["today"]
    at: dt.datetime = now["at"]
    d1, d2, old = (today - dt.timedelta(days=n) for n in (2, 1, 20))
    rv2, sg, linx, new = "route-views2", "route-views.sg", "route-views.linx", "route-views.new"
    earlier, later = at - dt.timedelta(hours=2), at - dt.timedelta(hours=1)

    catalog = Catalog(at - dt.timedelta(days=1))
    # d1, route-views2 RIBS: 12 archived; 00:00 failed then loaded, 02:00 partial
    first_rib = _path(rv2, "RIBS", d1, 0)
    catalog.add(first_rib, "failed", stage="convert", reason=NOT_MRT, run_id="rib-0000-try1")
    catalog.loaded(rv2, "RIBS", d1, range(0, 1))
    partial = _path(rv2, "RIBS", d1, 120)
    first, last = (
        dt.datetime.combine(d1, dt.time(2), dt.UTC),
        dt.datetime.combine(d1, dt.time(2, 40), dt.UTC),
    )
    catalog.add(
        partial,
        "partial",
        report={
            "rows": 5000,
            "records": 4000,
            "parse_errors": 0,
            "damage": DAMAGE,
            "time_range": (int(first.timestamp() * 1e6), int(last.timestamp() * 1e6)),
        },
        run_id="rib-0200",
    )
    catalog.loaded(rv2, "RIBS", d1, range(2, 12))
    # d1, route-views2 UPDATES: 94 of 96 archived; 90 loaded, 22:30 failed twice, 22:45
    # failed once, 23:00 and 23:15 without an outcome
    catalog.loaded(rv2, "UPDATES", d1, range(0, 90))
    twice, once = _path(rv2, "UPDATES", d1, 90 * 15), _path(rv2, "UPDATES", d1, 91 * 15)
    catalog.add(twice, "failed", stage="convert", reason=NOT_MRT, run_id="upd-2230-run1")
    catalog.add(once, "failed", stage="load", reason=TIMEOUT, run_id="upd-2245-run1")
    catalog.add(twice, "failed", stage="load", reason=TIMEOUT, run_id="upd-2230-run2")
    # d2, route-views.sg RIBS: 12 archived, 11 loaded, 22:00 failed its verify; 00:00 loaded
    # and then failed on the other load path (its rows stay: still loaded)
    catalog.loaded(sg, "RIBS", d2, range(0, 11))
    catalog.add(_path(sg, "RIBS", d2, 0), "failed", stage="load", reason=CLAIMED, run_id="x")
    mismatch = _path(sg, "RIBS", d2, 11 * 120)
    catalog.add(mismatch, "failed", stage="verify", reason=MISMATCH, run_id="sg-rib-2200")
    # today: all that is archived is loaded
    catalog.loaded(rv2, "RIBS", today, range(0, 6))
    catalog.loaded(sg, "UPDATES", today, range(0, 30))
    catalog.loaded(linx, "UPDATES", today, range(0, 40))
    catalog.loaded(new, "UPDATES", today, range(0, 40))
    # 20 days ago: a failed and a partial file, outside every query's 7 days
    catalog.add(_path(rv2, "UPDATES", old, 0), "failed", stage="load", reason=TIMEOUT)
    catalog.add(_path(rv2, "UPDATES", old, 15), "partial", report={"damage": DAMAGE})
    file_catalog.record_many(
        bigquery_client(cloud),
        cloud.files_ref,
        catalog.rows,
        [f"{r.archive_path}|{r.recorded_at}" for r in catalog.rows],
    )

    coverage_table.record(
        bigquery_client(cloud),
        cloud.coverage_ref,
        [
            _coverage(d1, rv2, "RIBS", 12, 12, checked_at=later),
            _coverage(d1, rv2, "UPDATES", 96, 80, checked_at=earlier),
            _coverage(d1, rv2, "UPDATES", 96, 94, checked_at=later),
            _coverage(d2, sg, "RIBS", 12, 12, checked_at=later),
            _coverage(today, rv2, "RIBS", 6, 6, checked_at=later),
            _coverage(today, sg, "UPDATES", 36, 30, checked_at=earlier),
            _coverage(today, sg, "UPDATES", 40, 30, checked_at=later, silent=True),
            _coverage(today, linx, "UPDATES", 36, 36, checked_at=earlier, silent=True),
            _coverage(today, linx, "UPDATES", 40, 40, checked_at=later),
            _coverage(today, new, "UPDATES", 40, 40, checked_at=later, known=False),
            _coverage(old, rv2, "UPDATES", 96, 50, checked_at=later),
        ],
    )

    queries = _doc_queries()
    assert len(queries) == 5
    tables = {"{files}": cloud.files_ref, "{coverage}": cloud.coverage_ref}
    missing, never_loaded, failed, silent, partials = (
        _rows(cloud, re.sub(r"\{files\}|\{coverage\}", lambda m: tables[m[0]], sql))
        for sql in queries
    )

    assert [
        (r["day"], r["collector"], r["kind"], r["expected"], r["archived"], r["loaded"],
         r["partial"], r["failed"], r["not_archived"], r["not_loaded"])
        for r in missing
    ] == [
        (d1, rv2, "UPDATES", 96, 94, 90, 0, 2, 2, 4),
        (d2, sg, "RIBS", 12, 12, 11, 0, 1, 0, 1),
        (today, sg, "UPDATES", 40, 30, 30, 0, 0, 10, 0),
    ]  # fmt: skip

    assert [
        (r["day"], r["collector"], r["kind"], r["archived"], r["recorded"], r["never_loaded"])
        for r in never_loaded
    ] == [(d1, rv2, "UPDATES", 94, 92, 2)]

    assert [
        (r["archive_path"], r["day"], r["stage"], r["reason"], r["run_id"],
         r["files_with_this_cause"])
        for r in failed
    ] == [
        (twice, d1, "load", TIMEOUT, "upd-2230-run2", 2),
        (once, d1, "load", TIMEOUT, "upd-2245-run1", 2),
        (mismatch, d2, "verify", MISMATCH, "sg-rib-2200", 1),
    ]  # fmt: skip

    assert [(r["collector"], r["kind"], r["known"], r["silent"]) for r in silent] == [
        (new, "UPDATES", False, False),
        (sg, "UPDATES", True, True),
    ]
    assert [r["minutes_since_last_file"] for r in silent] == [20, 90]

    assert [
        (r["archive_path"], r["day"], r["damage_offset"], r["damage_at_percent"], r["rows"],
         r["records"], r["last_record"], r["reason"], r["run_id"])
        for r in partials
    ] == [(partial, d1, 123_456, 12.3, 5000, 4000, last, DAMAGE["reason"], "rib-0200")]  # fmt: skip
