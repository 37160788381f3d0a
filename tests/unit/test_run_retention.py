"""The retention's cut-off: N days back, moved before any run that could lose its answer."""

from __future__ import annotations

import datetime as dt

from cloudz.reconcile import run_retention

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def test_runs_older_than_the_setting_are_cleaned() -> None:
    assert run_retention.cutoff(NOW, 30, []) == NOW - dt.timedelta(days=30)


def test_retention_zero_is_off() -> None:
    assert run_retention.cutoff(NOW, 0, [NOW]) is None
    assert run_retention.retention_days({run_retention.RETENTION_ENV: "0"}) == 0
    assert run_retention.retention_days({}) == run_retention.DEFAULT_DAYS


def test_a_held_run_moves_the_cut_off_before_it() -> None:
    """A run not ended (or not in the catalog) that started 40 days ago is kept, and so is
    every run after it: db clean cuts by time only."""
    old = NOW - dt.timedelta(days=40)
    before = run_retention.cutoff(NOW, 30, [old, None, NOW - dt.timedelta(days=35)])
    assert before is not None and before < old
    assert old - before == dt.timedelta(seconds=1)


def test_a_held_run_newer_than_the_setting_changes_nothing() -> None:
    recent = NOW - dt.timedelta(days=2)
    assert run_retention.cutoff(NOW, 30, [recent]) == NOW - dt.timedelta(days=30)


def test_only_runs_missing_from_the_catalog_are_unanswered() -> None:
    ended = ["mrt:a:1", "mrt:b:2", "mrt:c:3"]
    assert run_retention.unanswered(ended, {"mrt:a:1", "mrt:c:3"}) == ["mrt:b:2"]
    assert run_retention.unanswered(ended, set(ended)) == []


def test_archive_tables_of_the_cleaned_tables_expire() -> None:
    """``db clean`` names an archive ``_airflow_deleted__<table>__<UTC time>[__b<batch>]``;
    only those of the per-file DAG's tables older than the setting are dropped."""
    names = [
        "_airflow_deleted__xcom__20261120080000__b12",  # 17 days old
        "_airflow_deleted__dag_run__20261130115959",  # 7 days and a second
        "_airflow_deleted__task_instance__20261205000000__b1",  # 2 days
        "_airflow_deleted__job__20260101000000",  # not a table this clean cleans
        "xcom",
        "_airflow_deleted__xcom__2026112008__b1",  # not a time
    ]
    assert run_retention.expired_archives(names, NOW, 7) == [
        "_airflow_deleted__dag_run__20261130115959",
        "_airflow_deleted__xcom__20261120080000__b12",
    ]
    assert run_retention.expired_archives(names, NOW, 30) == []
    assert run_retention.archive_days({}) == run_retention.DEFAULT_ARCHIVE_DAYS
