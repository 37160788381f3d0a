"""The coverage page's queries on the BigQuery emulator, against rows written as the pipeline
and the reconcile DAG write them: the newest check per day, the newest catalog row per file."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from cloudz.archive.archived_file import ArchivedFile
from cloudz.settings import Settings
from cloudz.warehouse import coverage_report as report
from cloudz.warehouse import coverage_table, file_catalog
from cloudz.warehouse.clients import bigquery_client
from cloudz.warehouse.coverage_report import CoverageCell, DayRange, FailedFile

A = "route-views.reporttest"
B = "route-views.reportother"
DAY1 = dt.date(2025, 3, 31)
DAY2 = dt.date(2025, 4, 1)  # the range crosses a month: two partitions of each table
T0 = dt.datetime(2025, 4, 2, 8, 0, tzinfo=dt.UTC)


def _path(collector: str, day: dt.date, kind: str, hhmm: str) -> str:
    name = "rib" if kind == "RIBS" else "updates"
    return f"{collector}/bgpdata/{day:%Y.%m}/{kind}/{name}.{day:%Y%m%d}.{hhmm}.bz2"


def _outcome(
    path: str, state: str, minutes: int, *, sha: str = "a", stage: str | None = None,
    reason: str | None = None, run_id: str | None = None,
) -> file_catalog.CatalogRow:  # fmt: skip
    """A catalog row as the pipeline writes it, recorded ``minutes`` after T0."""
    row = file_catalog.row_of(
        ArchivedFile.of(path, sha * 64),
        state=state,
        stage=stage,
        reason=reason,
        run_id=run_id or f"run-{path}",
    )
    return replace(row, recorded_at=(T0 + dt.timedelta(minutes=minutes)).isoformat())


def _check(
    collector: str, day: dt.date, kind: str, expected: int, archived: int, minutes: int,
    *, known: bool = True, silent: bool = False,
) -> coverage_table.CoverageRow:  # fmt: skip
    return coverage_table.CoverageRow(
        day=day.isoformat(),
        collector=collector,
        kind=kind,
        expected=expected,
        archived=archived,
        latest_dump=f"{day.isoformat()}T22:00:00+00:00",
        known=known,
        silent=silent,
        checked_at=(T0 + dt.timedelta(minutes=minutes)).isoformat(),
    )


UPD1 = [_path(A, DAY1, "UPDATES", f"{h:02d}00") for h in range(5)]
RIB1 = _path(A, DAY1, "RIBS", "0000")
RUN_OF_RIB1 = "mrt:" + RIB1.replace("/", "~") + ":" + "c" * 16


@pytest.fixture(scope="module")
def seeded(cloud: Settings) -> Settings:
    client = bigquery_client(cloud)
    catalog = [
        _outcome(UPD1[0], "loaded", 1),
        _outcome(UPD1[1], "failed", 1, stage="load", reason="bad avro"),
        _outcome(UPD1[1], "loaded", 5),  # re-run after the failure
        _outcome(UPD1[2], "loaded", 1),
        _outcome(UPD1[2], "failed", 5, stage="load", reason="a later re-load failed"),
        _outcome(UPD1[3], "failed", 1, stage="convert", reason="not an MRT file", run_id="r3"),
        _outcome(UPD1[4], "partial", 1, reason="truncated"),
        _outcome(RIB1, "failed", 1, sha="c", stage="convert", reason="first try"),
        _outcome(RIB1, "failed", 9, sha="c", stage="load", reason="second try", run_id=RUN_OF_RIB1),
        _outcome(_path(A, DAY2, "UPDATES", "0000"), "loaded", 2),
        # outside the range: the day before, in the same month partition, and another month
        _outcome(
            _path(A, DAY1 - dt.timedelta(days=1), "UPDATES", "2345"),
            "failed",
            1,
            stage="load",
            reason="out of range",
        ),
        _outcome(_path(A, dt.date(2025, 5, 1), "UPDATES", "0000"), "failed", 1, stage="load"),
        _outcome(_path(B, DAY2, "RIBS", "0200"), "failed", 3, stage="verify", reason="sha256"),
    ]
    file_catalog.record_many(
        client, cloud.files_ref, catalog, [f"{r.archive_path}|{r.recorded_at}" for r in catalog]
    )
    checks = [
        _check(A, DAY1, "UPDATES", 96, 90, 0),
        _check(A, DAY1, "UPDATES", 96, 95, 10),  # the newer check wins
        _check(A, DAY1, "RIBS", 12, 12, 10),
        _check(A, DAY2, "RIBS", 12, 0, 10, silent=True),
        _check(B, DAY2, "RIBS", 12, 1, 10, known=False),
        _check(A, DAY1 - dt.timedelta(days=1), "UPDATES", 96, 96, 10),  # out of range
    ]
    coverage_table.record(client, cloud.coverage_ref, checks)
    return cloud


def _ts(day: dt.date, hhmm: str = "2200") -> dt.datetime:
    return dt.datetime.strptime(f"{day:%Y%m%d}{hhmm}", "%Y%m%d%H%M").replace(tzinfo=dt.UTC)


CHECKED = T0 + dt.timedelta(minutes=10)
DAYS = DayRange(DAY1, DAY2)


def test_grid_joins_the_newest_check_with_the_newest_outcome_of_each_file(seeded: Settings) -> None:
    cells = report.grid(bigquery_client(seeded), seeded.files_ref, seeded.coverage_ref, DAYS)

    assert cells == [
        # an unknown collector (not in include/collectors.yaml) whose one file failed
        CoverageCell(DAY2, B, "RIBS", 12, 1, _ts(DAY2), False, False, CHECKED, 0, 0, 1),
        CoverageCell(DAY2, A, "RIBS", 12, 0, _ts(DAY2), True, True, CHECKED, 0, 0, 0),
        # no check of that day and kind yet: the catalog's counts alone
        CoverageCell(DAY2, A, "UPDATES", None, None, None, None, None, None, 1, 0, 0),
        CoverageCell(DAY1, A, "RIBS", 12, 12, _ts(DAY1), True, False, CHECKED, 0, 0, 1),
        # the newer check (95 archived); loaded: a file re-run after its failure, and one
        # whose later re-load failed (its rows are in the table all the same)
        CoverageCell(DAY1, A, "UPDATES", 96, 95, _ts(DAY1), True, False, CHECKED, 3, 1, 1),
    ]
    assert [(c.missing, c.unaccounted) for c in cells] == [
        (11, 0), (12, 0), (None, None), (0, 11), (1, 90)
    ]  # fmt: skip


def test_grid_of_one_collector(seeded: Settings) -> None:
    cells = report.grid(bigquery_client(seeded), seeded.files_ref, seeded.coverage_ref, DAYS, A)

    assert [(c.collector, c.day, c.kind) for c in cells] == [
        (A, DAY2, "RIBS"), (A, DAY2, "UPDATES"), (A, DAY1, "RIBS"), (A, DAY1, "UPDATES")
    ]  # fmt: skip


def test_failed_files_are_the_newest_outcomes_that_failed(seeded: Settings) -> None:
    client = bigquery_client(seeded)

    failed = report.failed_files(client, seeded.files_ref, DAYS)

    b_rib = _path(B, DAY2, "RIBS", "0200")
    assert failed == [
        FailedFile(b_rib, "a" * 64, B, "RIBS", _ts(DAY2, "0200"), "verify", "sha256",
                   f"run-{b_rib}", T0 + dt.timedelta(minutes=3)),
        FailedFile(UPD1[3], "a" * 64, A, "UPDATES", _ts(DAY1, "0300"), "convert",
                   "not an MRT file", "r3", T0 + dt.timedelta(minutes=1)),
        FailedFile(RIB1, "c" * 64, A, "RIBS", _ts(DAY1, "0000"), "load", "second try",
                   RUN_OF_RIB1, T0 + dt.timedelta(minutes=9)),
    ]  # fmt: skip
    # only the file's own per-file run is offered for a re-run
    assert [f.per_file_run for f in failed] == [False, False, True]
    assert report.failed_files(client, seeded.files_ref, DAYS, A) == failed[1:]
    assert report.failed_files(client, seeded.files_ref, DAYS, limit=1) == failed[:1]


def test_day_range_reads_the_months_of_its_days() -> None:
    assert DayRange.ending(DAY2, 2) == DAYS
    assert DAYS.catalog_months() == (dt.date(2025, 3, 1), dt.date(2025, 4, 1))
    # a file named in Pacific time on the last day of a month is on the 1st in UTC
    old = DayRange(dt.date(2002, 2, 1), dt.date(2002, 2, 3))
    assert old.catalog_months() == (dt.date(2002, 1, 1), dt.date(2002, 2, 1))
    with pytest.raises(ValueError):
        DayRange.ending(DAY2, report.MAX_DAYS + 1)
