"""The load policy: which archived files are loaded, and what each reader of a skipped one says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile
from cloudz.cli.upload import human_summary
from cloudz.file_pipeline import load_policy_source
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.load_policy import (
    LOAD_EVERY_FILE,
    STATE_NOT_LOADED_BY_POLICY,
    LoadPolicy,
    LoadPolicyError,
    of,
)
from cloudz.reconcile.run import not_loaded_rows, skip_by_policy
from cloudz.settings import Settings
from cloudz.warehouse import file_catalog
from ingest_service.airflow_runs import RunSnapshot, TaskState
from ingest_service.catalog_answer import apply_row
from ingest_service.file_status import apply_run

SHA = "ab" * 32


def _path(collector: str, kind: str, when: datetime) -> paths.ArchivePath:
    name = f"{paths.KIND_PREFIX[kind]}.{when:%Y%m%d.%H%M}.bz2"
    return paths.parse(f"{collector}/bgpdata/{when:%Y.%m}/{kind}/{name}")


def _day(kind: str, collector: str = "route-views2", start_minute: int = 0) -> list[datetime]:
    """A day of one collector's names at the kind's cadence, from ``start_minute`` past 0:00."""
    step = timedelta(hours=2) if kind == "RIBS" else timedelta(minutes=15)
    first = datetime(2024, 3, 10, tzinfo=UTC) + timedelta(minutes=start_minute)
    return [first + i * step for i in range(int(timedelta(days=1) / step))]


def test_the_default_loads_every_file() -> None:
    for policy in (LOAD_EVERY_FILE, of(""), of(None), of("# nothing but a comment\n")):
        assert policy.loads_everything and str(policy) == "load every file"
        for kind in ("RIBS", "UPDATES"):
            assert all(policy.decide(_path("rrc00", kind, t)).load for t in _day(kind))
            assert policy.share("rrc00", kind) == 1.0


@pytest.mark.parametrize("start_minute", [0, 15, 75, 119])
def test_every_8h_loads_one_rib_in_four_whatever_the_daemons_start(start_minute: int) -> None:
    """RIBs come every 2 hours from when the daemon started, not on the clock: each 8-hour
    block still has exactly one RIB named in its first 2 hours."""
    policy = of("*/RIBS: every 8h")
    loaded = [t for t in _day("RIBS", start_minute=start_minute) if policy.decide(
        _path("route-views2", "RIBS", t)).load]  # fmt: skip
    assert len(loaded) == 3
    assert [t.hour // 8 for t in loaded] == [0, 1, 2]
    assert all((t.hour % 8) * 60 + t.minute < 120 for t in loaded)
    assert policy.share("route-views2", "RIBS") == 0.25
    # update files have no rule: every one is loaded
    assert all(policy.decide(_path("route-views2", "UPDATES", t)).load for t in _day("UPDATES"))
    assert policy.share("route-views2", "UPDATES") == 1.0


def test_the_most_specific_rule_wins() -> None:
    policy = of(
        "*/*: none\n*/RIBS: every 8h ; route-views.sg/*: all\n"
        "route-views.sg/RIBS: every 12h  # the big one"
    )
    at_4 = datetime(2024, 3, 10, 4, tzinfo=UTC)
    decide = policy.decide
    assert not decide(_path("rrc00", "UPDATES", at_4)).load  # */*
    assert decide(_path("rrc00", "UPDATES", at_4)).rule == "*/*: none"
    assert not decide(_path("rrc00", "RIBS", at_4)).load  # */RIBS: 04:00 is not in 00-02
    assert decide(_path("route-views.sg", "UPDATES", at_4)).load  # route-views.sg/*
    sg_rib = decide(_path("route-views.sg", "RIBS", datetime(2024, 3, 10, 12, 30, tzinfo=UTC)))
    assert sg_rib.load and sg_rib.rule == "route-views.sg/RIBS: every 12h"
    skipped = decide(_path("rrc00", "RIBS", at_4))
    assert skipped.reason == "load policy: */RIBS: every 8h"
    assert skipped.reply == "archived, not loaded (load policy: */RIBS: every 8h)"


def test_names_in_pacific_time_are_judged_in_utc() -> None:
    """Before 2003-02-03 names were Pacific time: ``rib.20030101.1600`` is 00:00 UTC."""
    policy = of("*/RIBS: every 8h")
    path = paths.parse("route-views2/bgpdata/2003.01/RIBS/rib.20030101.1600.bz2")
    assert path.dump_time.hour == 0 and policy.decide(path).load


@pytest.mark.parametrize(
    "text",
    [
        "RIBS: every 8h",  # no collector
        "*/RIB: none",  # not a kind
        "*/RIBS: every 5h",  # does not divide the day
        "*/UPDATES: sometimes",
        "*/*: every 1h",  # shorter than a RIB's 2 hours
        "*/RIBS: none; */RIBS: all",  # twice
        "../RIBS: none",
    ],
)
def test_a_text_that_does_not_parse_is_refused_with_its_rule(text: str) -> None:
    with pytest.raises(LoadPolicyError, match="load policy"):
        LoadPolicy.parse(text)


def test_outside_a_task_the_setting_is_the_policy() -> None:
    assert load_policy_source.variable_text() is None
    settings = Settings.from_env({"CLOUDZ_LOAD_POLICY": "*/RIBS: none"})
    assert str(load_policy_source.current(settings)) == "*/RIBS: none"
    assert load_policy_source.current(Settings.from_env({})).loads_everything


def test_the_reconcile_does_not_heal_a_file_the_policy_skips() -> None:
    policy = of("*/RIBS: every 8h")
    items = [
        {"archive_path": _path("rrc00", kind, datetime(2024, 3, 10, h, tzinfo=UTC)).path,
         "sha256": f"{h:064x}", "size": 10}
        for kind, h in (("RIBS", 0), ("RIBS", 2), ("UPDATES", 2), ("RIBS", 4))
    ]  # fmt: skip
    kept, left = skip_by_policy(items, policy)
    assert [i["archive_path"].split("/")[-1] for i in kept] == [
        "rib.20240310.0000.bz2",
        "updates.20240310.0200.bz2",
    ]
    assert [(i["archive_path"].split("/")[-1], why) for i, why in left] == [
        ("rib.20240310.0200.bz2", "load policy: */RIBS: every 8h"),
        ("rib.20240310.0400.bz2", "load policy: */RIBS: every 8h"),
    ]
    assert skip_by_policy(items, LOAD_EVERY_FILE) == (items, [])
    # a skipped file without a catalog row (archived while no run could start) gets one; a
    # file with one (its run's not_loaded_by_policy row) gets no second
    with_row = {(str(items[1]["archive_path"]), str(items[1]["sha256"])): {"state": "x"}}
    rows = not_loaded_rows(left, with_row, None)
    assert [(r.archive_path, r.state, r.reason, r.size) for r in rows] == [
        (items[3]["archive_path"], STATE_NOT_LOADED_BY_POLICY, "load policy: */RIBS: every 8h", 10)
    ]


def _file() -> ArchivedFile:
    return ArchivedFile.of("rrc00/bgpdata/2024.03/RIBS/rib.20240310.0200.bz2", SHA, 1234)


def test_the_catalog_row_says_not_loaded_by_policy_and_why() -> None:
    row = file_catalog.not_loaded_row(_file(), "load policy: */RIBS: every 8h", run_id="r")
    assert row.state == STATE_NOT_LOADED_BY_POLICY == file_catalog.STATE_NOT_LOADED_BY_POLICY
    assert row.reason == "load policy: */RIBS: every 8h"
    assert row.rows is None and row.load_job is None and row.stage is None


def test_the_reply_of_a_skipped_file_says_archived_not_loaded() -> None:
    reason = "load policy: */RIBS: every 8h"
    run = RunSnapshot(
        run_id="mrt:x",
        state="success",
        tasks={t: TaskState(t, "success", 1) for t in ("convert", "load")},
        xcoms={
            ("convert", "return_value"): {
                "report": {"status": STATE_NOT_LOADED_BY_POLICY, "not_loaded": reason, "rows": 0}
            },
            ("load", "return_value"): {"rows_loaded": 0, "table": "p.d.t", "not_loaded": reason},
        },
    )
    status = pb.FileStatus(archive_path=_file().archive_path)
    apply_run(status, run, "http://airflow/run")
    assert status.outcome == pb.OUTCOME_SUCCEEDED and not status.HasField("failure")
    assert status.verify == pb.STAGE_STATE_SUCCEEDED
    assert status.conversion.state == status.load.state == pb.STAGE_STATE_SKIPPED
    assert status.load.not_loaded == f"archived, not loaded ({reason})"
    assert f"load        skipped  archived, not loaded ({reason})" in human_summary(status)

    # the same answer once retention removed the run: from the catalog row
    from_catalog = pb.FileStatus()
    apply_row(
        from_catalog,
        {"archive_path": _file().archive_path, "sha256": SHA, "state": STATE_NOT_LOADED_BY_POLICY,
         "reason": reason, "run_id": "mrt:x"},
        "p.d.t",
    )  # fmt: skip
    assert from_catalog.outcome == pb.OUTCOME_SUCCEEDED
    assert from_catalog.load.state == pb.STAGE_STATE_SKIPPED
    assert from_catalog.load.not_loaded == status.load.not_loaded
