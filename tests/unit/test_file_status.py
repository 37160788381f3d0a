"""The reply is built from a run's task states and XComs: each combination says the right thing."""

from __future__ import annotations

from typing import Any

from cloudz.ingest.v1 import ingest_pb2 as pb
from ingest_service.airflow_runs import RunSnapshot, TaskState
from ingest_service.file_status import apply_run

TASKS = ("convert", "load")


def _run(state: str, task_states: dict[str, str | None], **xcoms: Any) -> RunSnapshot:
    return RunSnapshot(
        run_id="mrt:x",
        state=state,
        tasks={t: TaskState(t, task_states.get(t), 1) for t in TASKS},
        xcoms={tuple(k.split("__")): v for k, v in xcoms.items()},  # type: ignore[misc]
    )


def _status(run: RunSnapshot) -> pb.FileStatus:
    status = pb.FileStatus(archive_path="c/bgpdata/2026.01/RIBS/f")
    apply_run(status, run, "http://airflow/run")
    return status


REPORT = {"rows": 10, "records": 4, "parse_errors": 0, "damage": None, "status": "ok"}


def test_a_successful_run_reports_every_stage() -> None:
    s = _status(
        _run(
            "success",
            dict.fromkeys(TASKS, "success"),
            convert__return_value={"report": {**REPORT, "avro_uri": "gs://b/f.avro"}},
            load__return_value={"rows_loaded": 10, "table": "p.d.t"},
        )
    )
    assert s.outcome == pb.OUTCOME_SUCCEEDED
    assert s.verify == pb.STAGE_STATE_SUCCEEDED
    assert (s.conversion.state, s.conversion.rows, s.conversion.avro_uri) == (
        pb.STAGE_STATE_SUCCEEDED,
        10,
        "gs://b/f.avro",
    )
    assert (s.load.state, s.load.rows_loaded, s.load.table) == (
        pb.STAGE_STATE_SUCCEEDED,
        10,
        "p.d.t",
    )
    assert not s.HasField("failure")
    assert (s.run_id, s.run_state, s.run_url) == ("mrt:x", "success", "http://airflow/run")


def test_damage_makes_the_file_partial() -> None:
    damaged = {**REPORT, "damage": {"offset": 123, "reason": "truncated", "records_skipped": 1}}
    s = _status(
        _run(
            "success",
            dict.fromkeys(TASKS, "success"),
            convert__return_value={"report": {**damaged, "status": "partial"}},
        )
    )
    assert s.outcome == pb.OUTCOME_PARTIAL
    assert s.conversion.state == pb.STAGE_STATE_PARTIAL
    assert (s.conversion.damage.offset, s.conversion.damage.reason) == (123, "truncated")


def test_parse_errors_alone_also_make_it_partial() -> None:
    s = _status(
        _run(
            "success",
            dict.fromkeys(TASKS, "success"),
            convert__return_value={"report": {**REPORT, "parse_errors": 2, "status": "partial"}},
        )
    )
    assert s.outcome == pb.OUTCOME_PARTIAL
    assert not s.conversion.HasField("damage")


def test_repairs_and_drops_reach_the_reply_by_reason() -> None:
    """The report of a real conversion (masked prefixes, a repaired and a dropped record), as
    the convert task returns it, is what the collector reads; an older report without these
    keys gives zeros and empty maps."""
    from cloudz.cli.upload import human_summary
    from cloudz.convert.report import ConversionReport

    report = ConversionReport(
        rows=3,
        records=3,
        parse_errors=1,
        masked_prefixes=2,
        repairs={"nlri_truncated": 1},
        drops={"attribute_overrun": 1},
    )
    s = _status(
        _run(
            "success",
            dict.fromkeys(TASKS, "success"),
            convert__return_value={"report": {**report.to_dict(), "status": report.status}},
        )
    )
    assert s.outcome == pb.OUTCOME_PARTIAL
    c = s.conversion
    assert (c.parse_errors, c.masked_prefixes) == (1, 2)
    assert (dict(c.repairs), dict(c.drops)) == ({"nlri_truncated": 1}, {"attribute_overrun": 1})
    assert "2 prefixes with host bits masked" in human_summary(s)
    assert "dropped: attribute_overrun 1" in human_summary(s)

    old = _status(
        _run("success", dict.fromkeys(TASKS, "success"), convert__return_value={"report": REPORT})
    )
    assert (old.conversion.masked_prefixes, dict(old.conversion.repairs)) == (0, {})


def test_rows_dated_outside_the_window_reach_the_reply_as_dropped() -> None:
    """Issue 20, item 6: the report's time_dropped (rows, not records) is in the reply's drops
    under its own key, and the file is PARTIAL."""
    from cloudz.cli.upload import human_summary
    from cloudz.convert.report import ConversionReport

    report = ConversionReport(rows=1, records=3, parse_errors=0, time_dropped=2, time_window=(0, 1))
    s = _status(
        _run(
            "success",
            dict.fromkeys(TASKS, "success"),
            convert__return_value={"report": {**report.to_dict(), "status": report.status}},
        )
    )
    assert s.outcome == pb.OUTCOME_PARTIAL
    assert dict(s.conversion.drops) == {"rows_outside_time_window": 2}
    assert "dropped: rows_outside_time_window 2" in human_summary(s)


def test_a_failed_load_names_its_stage_and_reason() -> None:
    s = _status(
        _run(
            "failed",
            {"convert": "success", "load": "failed"},
            convert__return_value={"report": REPORT},
            load__failure={"stage": "load", "reason": "BadRequest: 400 table not found"},
        )
    )
    assert s.outcome == pb.OUTCOME_FAILED
    assert (s.failure.stage, s.failure.reason) == ("load", "BadRequest: 400 table not found")
    assert s.verify == pb.STAGE_STATE_SUCCEEDED
    assert s.conversion.state == pb.STAGE_STATE_SUCCEEDED
    assert s.load.state == pb.STAGE_STATE_FAILED


def test_a_failed_check_is_a_failed_load_stage_named_check() -> None:
    s = _status(
        _run(
            "failed",
            {"convert": "success", "load": "failed"},
            convert__return_value={"report": REPORT},
            load__failure={"stage": "check", "reason": "table holds 20 rows"},
        )
    )
    assert (s.failure.stage, s.failure.reason) == ("check", "table holds 20 rows")
    assert s.load.state == pb.STAGE_STATE_FAILED


def test_failed_checksum_skips_conversion_and_load() -> None:
    s = _status(
        _run(
            "failed",
            {"convert": "failed", "load": "upstream_failed"},
            convert__failure={"stage": "verify", "reason": "sha256 mismatch"},
        )
    )
    assert (s.failure.stage, s.failure.reason) == ("verify", "sha256 mismatch")
    assert s.verify == pb.STAGE_STATE_FAILED
    assert s.conversion.state == pb.STAGE_STATE_SKIPPED
    assert s.load.state == pb.STAGE_STATE_SKIPPED


def test_a_failed_conversion_says_the_checksum_was_verified() -> None:
    s = _status(
        _run(
            "failed",
            {"convert": "failed", "load": "upstream_failed"},
            convert__failure={"stage": "convert", "reason": "OSError: disk full"},
        )
    )
    assert s.failure.stage == "convert"
    assert s.verify == pb.STAGE_STATE_SUCCEEDED
    assert s.conversion.state == pb.STAGE_STATE_FAILED
    assert s.load.state == pb.STAGE_STATE_SKIPPED


def test_a_bare_reason_from_an_older_run_is_read_as_the_task_stage() -> None:
    s = _status(
        _run(
            "failed",
            {"convert": "success", "load": "failed"},
            convert__return_value={"report": REPORT},
            load__failure="Timeout",
        )
    )
    assert (s.failure.stage, s.failure.reason) == ("load", "Timeout")


def test_a_failed_task_without_its_xcom_points_at_the_log() -> None:
    s = _status(_run("failed", {"convert": "failed", "load": "upstream_failed"}))
    assert s.failure.stage == "convert"
    assert "see its log" in s.failure.reason


def test_a_running_run_is_running_with_finished_stages_filled_in() -> None:
    s = _status(
        _run(
            "running",
            {"convert": "success", "load": "running"},
            convert__return_value={"report": REPORT},
        )
    )
    assert s.outcome == pb.OUTCOME_RUNNING
    assert s.conversion.state == pb.STAGE_STATE_SUCCEEDED
    assert s.load.state == pb.STAGE_STATE_RUNNING
    assert not s.HasField("failure")


def test_a_queued_run_has_pending_stages() -> None:
    s = _status(_run("queued", {}))
    assert s.outcome == pb.OUTCOME_RUNNING
    assert s.verify == pb.STAGE_STATE_PENDING
    assert s.load.state == pb.STAGE_STATE_PENDING
