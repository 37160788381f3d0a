"""The reconcile's sorting of files and its freshness rules, on hand-made scans."""

from __future__ import annotations

import datetime as dt

from cloudz.archive import paths
from cloudz.reconcile.airflow_api import ActiveRun
from cloudz.reconcile.bucket_scan import BucketScan, RawObject, months_of
from cloudz.reconcile.findings import classify
from cloudz.reconcile.freshness import check, expected, silent_after
from cloudz.sources import Collector

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
SHA = "ab" * 32


def _raw(collector: str, kind: str, when: dt.datetime, sha: str = SHA, age: float = 5) -> RawObject:
    name = ("rib" if kind == "RIBS" else "updates") + when.strftime(".%Y%m%d.%H%M.bz2")
    path = f"{collector}/bgpdata/{when:%Y.%m}/{kind}/{name}"
    return RawObject(path, collector, kind, when, sha, 100, NOW - age * HOUR)


def _collector(name: str, first: dt.date = dt.date(2001, 1, 1)) -> Collector:
    return Collector(name=name, archive_dir=f"{name}/bgpdata", first_date=first)


def test_each_file_falls_in_one_class() -> None:
    loaded = _raw("rv.a", "UPDATES", NOW - 3 * HOUR)
    failed = _raw("rv.a", "UPDATES", NOW - 4 * HOUR)
    lost = _raw("rv.a", "UPDATES", NOW - 5 * HOUR)  # no row, no run: to heal
    running = _raw("rv.a", "UPDATES", NOW - 6 * HOUR)  # its run is on it
    fresh = _raw("rv.a", "UPDATES", NOW - 7 * HOUR, age=0.25)  # archived 15 min ago
    unverified = _raw("rv.a", "RIBS", NOW - 2 * HOUR, sha="")
    scan = BucketScan(
        raw=[loaded, failed, lost, running, fresh, unverified],
        avro={loaded.path + ".avro", "rv.a/bgpdata/2026.03/RIBS/rib.20260310.0000.bz2.avro"},
    )
    catalog = {
        (loaded.path, SHA): {"state": "loaded"},
        (failed.path, SHA): {"state": "failed", "stage": "load", "reason": "bad", "run_id": "r1"},
    }
    run = paths.run_id(paths.parse(running.path), SHA)
    stuck = ActiveRun("mrt:old", "queued", NOW - 10 * HOUR)
    found = classify(
        scan,
        catalog,
        [ActiveRun(run, "running", NOW - HOUR), stuck],
        bucket="b",
        now=NOW,
        settle=HOUR,
        stuck_after=4 * HOUR,
    )
    assert (found.archived, found.loaded, found.in_flight) == (6, 1, 2)
    assert [f["archive_path"] for f in found.failed] == [failed.path]
    assert found.failed[0]["reason"] == "bad" and found.failed[0]["run_id"] == "r1"
    assert [f["archive_path"] for f in found.to_heal] == [lost.path]
    assert found.to_heal[0]["avro_object"] == lost.path + ".avro"
    assert found.unverified == [unverified.path]
    assert found.orphan_avro == ["rv.a/bgpdata/2026.03/RIBS/rib.20260310.0000.bz2.avro"]
    assert [r["run_id"] for r in found.stuck_runs] == ["mrt:old"]
    report = found.report()
    assert report["to_heal"] == 1 and report["failed_count"] == 1


def test_expected_files_follow_the_cadence_and_today_counts_only_slots_over() -> None:
    rv = _collector("rv.a")
    yesterday = NOW.date() - dt.timedelta(days=1)
    assert expected(rv, "RIBS", yesterday, NOW, HOUR) == 12
    assert expected(rv, "UPDATES", yesterday, NOW, HOUR) == 96
    # 12:00 with an hour's grace: 11 hours are over today
    assert expected(rv, "RIBS", NOW.date(), NOW, HOUR) == 5
    assert expected(rv, "UPDATES", NOW.date(), NOW, HOUR) == 44
    assert expected(_collector("rv.new", NOW.date()), "RIBS", yesterday, NOW, HOUR) == 0
    assert expected(None, "RIBS", yesterday, NOW, HOUR) == 0  # not in the list: no promise


def test_a_silent_collector_and_an_unknown_one_are_flagged() -> None:
    sending, stopped = _collector("rv.sending"), _collector("rv.stopped")
    raw = [
        _raw("rv.sending", "UPDATES", NOW - 0.5 * HOUR),
        _raw("rv.sending", "RIBS", NOW - 2 * HOUR),
        _raw("rv.stopped", "UPDATES", NOW - 6 * HOUR),
        _raw("rv.unlisted", "UPDATES", NOW - 0.5 * HOUR),
    ]
    days = [NOW.date() - dt.timedelta(days=1), NOW.date()]
    rows, fresh = check(raw, [sending, stopped], {"rv.sending", "rv.stopped"}, days, NOW, HOUR)
    flags = {(f.collector, f.kind): (f.silent, f.known) for f in fresh}
    assert flags[("rv.sending", "UPDATES")] == (False, True)
    assert flags[("rv.sending", "RIBS")] == (False, True)
    assert flags[("rv.stopped", "UPDATES")] == (True, True)
    assert flags[("rv.stopped", "RIBS")] == (True, True)  # never seen in the window
    assert flags[("rv.unlisted", "UPDATES")] == (False, False)
    today = {(r.collector, r.kind): r for r in rows if r.day == NOW.date().isoformat()}
    assert today[("rv.sending", "UPDATES")].archived == 1
    assert today[("rv.stopped", "UPDATES")].archived == 1
    assert today[("rv.stopped", "UPDATES")].silent is True
    assert today[("rv.unlisted", "UPDATES")].known is False
    assert today[("rv.unlisted", "UPDATES")].expected == 0
    assert len(rows) == 3 * 2 * len(days)


def test_silence_allows_two_intervals_and_the_grace() -> None:
    assert silent_after("UPDATES", HOUR) == dt.timedelta(minutes=90)
    assert silent_after("RIBS", HOUR) == dt.timedelta(hours=5)


def test_months_of_a_window_cross_the_year() -> None:
    assert months_of(dt.date(2025, 11, 30), dt.date(2026, 1, 2)) == [
        "2025.11",
        "2025.12",
        "2026.01",
    ]


def test_the_scan_maps_every_avro_part_to_its_raw_file() -> None:
    """Further parts (``<path>.avro-0001.avro``) belong to their raw file as part 0 does:
    neither a stray nor an archive path; orphans when the raw file is gone."""
    from types import SimpleNamespace

    from cloudz.reconcile.bucket_scan import scan

    kept = "rv.a/bgpdata/2026.03/RIBS/rib.20260310.0000.bz2"
    gone = "rv.a/bgpdata/2026.03/RIBS/rib.20260310.0200.bz2"
    names = [
        kept, kept + ".avro", kept + ".avro-0001.avro", kept + ".avro-0002.avro",
        gone + ".avro", gone + ".avro-0001.avro",
        kept + ".avro-0000.avro",  # no part name: a stray for a person
    ]  # fmt: skip
    blobs = [SimpleNamespace(name=n, metadata={}, size=1, time_created=NOW) for n in names]

    class Bucket:
        def list_blobs(self, prefix: str, fields: str) -> list[SimpleNamespace]:
            return [b for b in blobs if b.name.startswith(prefix)]

    found = scan(Bucket(), ["rv.a"], dt.date(2026, 3, 10), dt.date(2026, 3, 10))
    assert [r.path for r in found.raw] == [kept]
    assert found.avro == set(names[1:6])
    assert found.orphan_avro == [gone + ".avro", gone + ".avro-0001.avro"]
    assert found.strays == [kept + ".avro-0000.avro"]


def test_recount_takes_the_loaded_files_still_archived() -> None:
    from cloudz.reconcile.recount import candidates, ledger_base

    first = NOW - 30 * HOUR
    row = {
        "state": "loaded",
        "collector": "rv.a",
        "rows": 10,
        "first_record": first,
        "last_record": first,
        "recorded_at": NOW - 3 * HOUR,
    }
    catalog = {
        ("a/old", SHA): row,
        ("a/new", SHA): {**row, "recorded_at": NOW - HOUR},
        ("a/failed", SHA): {**row, "state": "failed"},
        ("a/empty", SHA): {**row, "rows": 0, "recorded_at": NOW - HOUR},
        ("a/deleted", SHA): {**row, "recorded_at": NOW - HOUR},
    }
    # a/replaced: archived under another sha256 than the loaded row's (replaced by hand)
    catalog[("a/replaced", SHA)] = {**row, "recorded_at": NOW - HOUR}
    archived = [(p, SHA) for p in ("a/old", "a/new", "a/failed", "a/empty")]
    archived.append(("a/replaced", "cd" * 32))
    recent = candidates(catalog, archived, bucket="b", now=NOW, mode="recent")
    assert [e["archive_path"] for e in recent] == ["a/new"]
    every = candidates(catalog, archived, bucket="b", now=NOW, mode="all")
    assert [e["archive_path"] for e in every] == ["a/new", "a/old"]
    assert candidates(catalog, archived, bucket="b", now=NOW, mode="none") == []
    # a later mismatch of the same file (after the reload's own catalog row) gets a new ledger
    assert ledger_base("t", every[0]) != ledger_base("t", {**every[0], "recorded_at": "x"})
    assert ledger_base("t", every[0]) == ledger_base("t", dict(every[0]))


def test_a_window_from_params_or_the_lookback() -> None:
    import pendulum

    from cloudz.reconcile.run import Window
    from cloudz.settings import Settings

    settings = Settings.from_env({"CLOUDZ_RECONCILE_LOOKBACK_DAYS": "3"})
    window = Window.of(settings, {}, pendulum.datetime(2026, 3, 10, 12, tz="UTC"))
    assert (window.first, window.last) == (dt.date(2026, 3, 8), dt.date(2026, 3, 10))
    assert type(window.now) is dt.datetime  # the freshness arithmetic needs a plain one
    assert expected(_collector("rv.a"), "RIBS", window.last, window.now, window.settle) == 5
    given = Window.of(
        settings,
        {"from_day": "2024-01-01", "to_day": "2024-01-31", "collectors": "a, b", "recount": "all"},
        NOW,
    )
    assert (given.first, given.last, given.collectors) == (
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 31),
        ("a", "b"),
    )
    assert given.recount == "all" and given.settle == HOUR


def test_without_the_runs_nothing_is_healed() -> None:
    """Airflow's API did not answer: a file with no row may have its run going, so it is
    left in flight, not converted a second time."""
    lost = _raw("rv.a", "UPDATES", NOW - 5 * HOUR)
    found = classify(
        BucketScan(raw=[lost]), {}, None, bucket="b", now=NOW, settle=HOUR, stuck_after=HOUR
    )
    assert (found.to_heal, found.in_flight) == ([], 1)


def test_silence_is_judged_only_by_a_window_reaching_today() -> None:
    from cloudz.reconcile.run import Window

    past = Window(dt.date(2024, 1, 1), dt.date(2024, 1, 31), NOW)
    today_only = Window(NOW.date(), NOW.date(), NOW)
    scheduled = Window(NOW.date() - dt.timedelta(days=2), NOW.date(), NOW)
    subset = Window(NOW.date() - dt.timedelta(days=2), NOW.date(), NOW, collectors=("rv.a",))
    assert [w.judges_silence for w in (past, today_only, scheduled, subset)] == [
        False,
        False,
        True,
        True,
    ]
    assert [w.live for w in (past, scheduled, subset)] == [False, True, False]
    stopped = _collector("rv.stopped")
    raw = [_raw("rv.stopped", "UPDATES", NOW - 6 * HOUR)]
    _, fresh = check(raw, [stopped], {"rv.stopped"}, [NOW.date()], NOW, HOUR, judge_silence=False)
    assert not any(f.silent for f in fresh)


def test_a_window_is_a_month_at_most() -> None:
    import pytest

    from cloudz.reconcile.run import Window
    from cloudz.settings import Settings

    with pytest.raises(ValueError, match="longer than 31 days"):
        Window.of(Settings(), {"from_day": "2024-01-01", "to_day": "2024-03-01"}, NOW)


def test_a_collector_silent_for_longer_than_the_window_keeps_its_newest_file() -> None:
    stopped = _collector("rv.stopped")
    long_ago = NOW - dt.timedelta(days=20)
    seen = {("rv.stopped", "UPDATES"): long_ago, ("rv.gone", "UPDATES"): long_ago}
    rows, fresh = check([], [stopped], {"rv.stopped"}, [NOW.date()], NOW, HOUR, seen_before=seen)
    updates = next(f for f in fresh if f.kind == "UPDATES")
    assert (updates.latest, updates.silent) == (long_ago, True)
    assert updates.age_seconds(NOW) == 20 * 86400
    # a name no longer expected and with no file in the window is not brought back
    assert {r.collector for r in rows} == {"rv.stopped"}
