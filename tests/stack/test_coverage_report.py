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
from cloudz.warehouse.coverage_report import CatalogFile, CoverageCell, DayRange

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


def _odd(path: str, named: dt.datetime | None, state: str, **kw: str) -> file_catalog.CatalogRow:
    """A row of a file archived before the path rules refused its name (written as then)."""
    good = _outcome(_path(A, DAY2, "UPDATES", "0000"), state, 4, **kw)
    collector, _, folder, kind, _name = path.split("/")
    return replace(
        good,
        archive_path=path,
        collector=collector,
        kind=kind,
        month=f"{folder.replace('.', '-')}-01",
        dump_time=named.isoformat() if named else None,
        run_id=kw.get("run_id") or f"scheduled__{path}",
    )


UPD1 = [_path(A, DAY1, "UPDATES", f"{h:02d}00") for h in range(5)]
RIB1 = _path(A, DAY1, "RIBS", "0000")
RUN_OF_RIB1 = "mrt:" + RIB1.replace("/", "~") + ":" + "c" * 16
MISFILED = f"{A}/bgpdata/2025.03/UPDATES/updates.20250415.1200.bz2"
UNDATED = f"{A}/bgpdata/2025.04/UPDATES/quagga.bz2"
UNDATED_LOADED = f"{A}/bgpdata/2025.03/RIBS/notes.bz2"
FUTURE = f"{B}/bgpdata/2099.12/UPDATES/updates.20991231.2359.bz2"


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
        _outcome(_path(A, DAY2, "UPDATES", "0015"), "not_loaded_by_policy", 2),
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
        # names no day of the grid holds: a date outside the folder's month, none, to come
        _odd(MISFILED, _ts(dt.date(2025, 4, 15), "1200"), "failed", stage="convert", reason="m"),
        _odd(UNDATED, None, "failed", stage="convert", reason="not an MRT file: text"),
        _odd(UNDATED_LOADED, None, "loaded"),
        _odd(FUTURE, _ts(dt.date(2099, 12, 31), "2359"), "failed", stage="load", reason="f"),
        # an undated failure in a folder of another month: another window's
        _odd(f"{A}/bgpdata/2025.01/UPDATES/nodate.bz2", None, "failed", stage="convert"),
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

    # the catalog's moment: the newest row counted in the cell
    assert cells[-1].recorded_last == T0 + dt.timedelta(minutes=5)
    assert [replace(c, recorded_last=None) for c in cells] == [
        # an unknown collector (not in include/collectors.yaml) whose one file failed
        CoverageCell(DAY2, B, "RIBS", 12, 1, _ts(DAY2), False, False, CHECKED, 0, 0, 1),
        CoverageCell(DAY2, A, "RIBS", 12, 0, _ts(DAY2), True, True, CHECKED, 0, 0, 0),
        # no check of that day and kind yet: the catalog's counts alone
        CoverageCell(DAY2, A, "UPDATES", None, None, None, None, None, None, 1, 0, 0, 1),
        CoverageCell(DAY1, A, "RIBS", 12, 12, _ts(DAY1), True, False, CHECKED, 0, 0, 1),
        # the newer check (95 archived); loaded: a file re-run after its failure, and one
        # whose later re-load failed (its rows are in the table all the same)
        CoverageCell(DAY1, A, "UPDATES", 96, 95, _ts(DAY1), True, False, CHECKED, 3, 1, 1),
    ]
    assert [(c.missing, c.unaccounted, c.since_check) for c in cells] == [
        (11, 0, 0), (12, 0, 0), (None, None, 0), (0, 11, 0), (1, 90, 0)
    ]  # fmt: skip


def test_grid_of_one_collector(seeded: Settings) -> None:
    cells = report.grid(bigquery_client(seeded), seeded.files_ref, seeded.coverage_ref, DAYS, A)

    assert [(c.collector, c.day, c.kind) for c in cells] == [
        (A, DAY2, "RIBS"), (A, DAY2, "UPDATES"), (A, DAY1, "RIBS"), (A, DAY1, "UPDATES")
    ]  # fmt: skip


def _file(path: str, sha: str, named: dt.datetime | None, stage: str, reason: str | None,
          run_id: str, minutes: int, tries: int, first: int) -> CatalogFile:  # fmt: skip
    collector, _, folder, kind, _ = path.split("/")
    return CatalogFile(
        path, sha * 64, collector, kind, named, folder, "failed", stage, reason, run_id,
        T0 + dt.timedelta(minutes=minutes), tries, T0 + dt.timedelta(minutes=first),
    )  # fmt: skip


def test_failed_files_are_the_newest_outcomes_that_failed_whatever_their_names(
    seeded: Settings,
) -> None:
    client = bigquery_client(seeded)

    failed = report.failed_files(client, seeded.files_ref, DAYS)

    b_rib = _path(B, DAY2, "RIBS", "0200")
    # worst first: A has four failed files, B two; then the most tries, then the newest name
    assert failed.files == [
        _file(RIB1, "c", _ts(DAY1, "0000"), "load", "second try", RUN_OF_RIB1, 9, 2, 1),
        _file(MISFILED, "a", _ts(dt.date(2025, 4, 15), "1200"), "convert", "m",
              f"scheduled__{MISFILED}", 4, 1, 4),
        _file(UPD1[3], "a", _ts(DAY1, "0300"), "convert", "not an MRT file", "r3", 1, 1, 1),
        _file(UNDATED, "a", None, "convert", "not an MRT file: text", f"scheduled__{UNDATED}",
              4, 1, 4),
        _file(FUTURE, "a", _ts(dt.date(2099, 12, 31), "2359"), "load", "f",
              f"scheduled__{FUTURE}", 4, 1, 4),
        _file(b_rib, "a", _ts(DAY2, "0200"), "verify", "sha256", f"run-{b_rib}", 3, 1, 3),
    ]  # fmt: skip
    assert failed.total == 6
    # only the file's own per-file run is offered for a re-run
    assert [f.per_file_run for f in failed.files] == [True, False, False, False, False, False]
    assert [f.odd_name for f in failed.files] == [
        None, "refused by rule month-folder", None, "no date in the name", None, None
    ]  # fmt: skip
    assert report.failed_files(client, seeded.files_ref, DAYS, A).files == failed.files[:4]
    one = report.failed_files(client, seeded.files_ref, DAYS, limit=1)
    assert (one.files, one.total) == (failed.files[:1], 6)


def test_odd_names_are_listed_failed_first(seeded: Settings) -> None:
    odd = report.odd_files(bigquery_client(seeded), seeded.files_ref, DAYS)

    assert [(f.archive_path, f.state) for f in odd.files] == [
        (FUTURE, "failed"), (MISFILED, "failed"), (UNDATED, "failed"), (UNDATED_LOADED, "loaded")
    ]  # fmt: skip
    assert odd.total == 4


def test_a_collector_day_lists_its_files(seeded: Settings) -> None:
    day = report.day_files(bigquery_client(seeded), seeded.files_ref, A, DAY1)

    assert [(f.archive_path, f.state, f.tries) for f in day.files] == [
        (RIB1, "failed", 2),
        *((p, s, t) for p, s, t in zip(
            UPD1, ["loaded", "loaded", "loaded", "failed", "partial"], [0, 1, 1, 1, 0],
            strict=True,
        )),
    ]  # fmt: skip


def test_day_range_reads_the_months_of_its_days() -> None:
    assert DayRange.ending(DAY2, 2) == DAYS
    assert DAYS.catalog_months() == (dt.date(2025, 3, 1), dt.date(2025, 4, 1))
    # a file rotated just after midnight of the 1st sits in the month before
    assert DayRange(DAY2, DAY2).catalog_months() == (dt.date(2025, 3, 1), dt.date(2025, 4, 1))
    assert DayRange(DAY2, DAY2).days == [DAY2]
    # a file named in Pacific time on the last day of a month is on the 1st in UTC
    old = DayRange(dt.date(2002, 2, 1), dt.date(2002, 2, 3))
    assert old.catalog_months() == (dt.date(2002, 1, 1), dt.date(2002, 2, 1))
    with pytest.raises(ValueError):
        DayRange.ending(DAY2, report.MAX_DAYS + 1)
