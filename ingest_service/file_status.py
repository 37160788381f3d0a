"""Build the reply (``FileStatus``) from what the bucket and the file's Airflow run say.

The per-file DAG's task ids and XCom keys are the contract read here; they are
named once, in ``cloudz.pipeline_contract``.
"""

from __future__ import annotations

from typing import Any

from cloudz import pipeline_contract as contract
from cloudz.archive.store import ArchivedObject, StoreResult
from cloudz.ingest.v1 import ingest_pb2 as pb
from ingest_service.airflow_runs import RunSnapshot, TaskState

_ARCHIVE_RESULT = {
    StoreResult.STORED: pb.ARCHIVE_RESULT_STORED,
    StoreResult.ALREADY_ARCHIVED: pb.ARCHIVE_RESULT_ALREADY_ARCHIVED,
    StoreResult.CONFLICT: pb.ARCHIVE_RESULT_CONFLICT,
}

_RUNNING = {"running", "up_for_retry", "up_for_reschedule", "deferred", "restarting", "queued"}
_SKIPPED = {"upstream_failed", "skipped", "removed"}
#: the key of ConversionStage.drops that counts *rows* (not records) not loaded because they
#: are dated outside a day either side of the file's name (cloudz.archive.time_window)
TIME_DROPPED = "rows_outside_time_window"
_STAGE_ORDER = (
    contract.STAGE_VERIFY,
    contract.STAGE_CONVERT,
    contract.STAGE_LOAD,
    contract.STAGE_CHECK,
)

#: the XComs the reply needs, per task
XCOM_KEYS: dict[str, tuple[str, ...]] = {
    contract.TASK_CONVERT: ("return_value", contract.XCOM_FAILURE),
    contract.TASK_LOAD: ("return_value", contract.XCOM_FAILURE),
}


def _task_state(ti: TaskState | None, run_ended: bool) -> int:
    state = ti.state if ti is not None else None
    if state == "failed":
        return pb.STAGE_STATE_FAILED
    if state == "success":
        return pb.STAGE_STATE_SUCCEEDED
    if state in _RUNNING:
        return pb.STAGE_STATE_RUNNING
    if state in _SKIPPED or run_ended:
        return pb.STAGE_STATE_SKIPPED
    return pb.STAGE_STATE_PENDING


def failure_of(value: Any, task_id: str) -> tuple[str, str]:
    """``(stage, reason)`` from a task's ``failure`` XCom (older runs wrote a bare reason)."""
    default_stage = contract.DEFAULT_STAGE_OF_TASK.get(task_id, task_id)
    if isinstance(value, dict):
        return str(value.get("stage") or default_stage), str(value.get("reason") or "")
    if value:
        return default_stage, str(value)
    return default_stage, f"task {task_id} failed (see its log)"


def stage_states(run: RunSnapshot) -> tuple[dict[str, int], tuple[str, str] | None]:
    """Each stage's state, and the failed stage with its reason (if a task failed).

    A task carries two stages: when it failed, the stage before the failed one succeeded
    and the one after is skipped; otherwise both stages share the task's state.
    """
    states: dict[str, int] = {}
    failure: tuple[str, str] | None = None
    for stage in _STAGE_ORDER:
        states[stage] = _task_state(run.tasks.get(contract.TASK_OF_STAGE[stage]), run.ended)
    for task_id in contract.PER_FILE_TASKS:
        ti = run.tasks.get(task_id)
        if ti is None or ti.state != "failed":
            continue
        stage, reason = failure_of(run.xcoms.get((task_id, contract.XCOM_FAILURE)), task_id)
        own = [s for s in _STAGE_ORDER if contract.TASK_OF_STAGE[s] == task_id]
        if stage in own:
            for s in own:
                if own.index(s) < own.index(stage):
                    states[s] = pb.STAGE_STATE_SUCCEEDED
                elif s != stage:
                    states[s] = pb.STAGE_STATE_SKIPPED
        failure = (stage, reason)
        break
    return states, failure


def archive_stage(result: StoreResult, obj: ArchivedObject, uri: str) -> pb.ArchiveStage:
    return pb.ArchiveStage(
        result=_ARCHIVE_RESULT[result], object_uri=uri, size=obj.size, archived_sha256=obj.sha256
    )


def apply_run(status: pb.FileStatus, run: RunSnapshot, run_url: str) -> None:
    """Fill the stages, outcome and failure of ``status`` from one read of the run."""
    status.run_id = run.run_id
    status.run_state = run.state
    status.run_url = run_url
    states, failure = stage_states(run)

    status.verify = states[contract.STAGE_VERIFY]  # type: ignore[assignment]

    converted: dict[str, Any] = run.xcoms.get((contract.TASK_CONVERT, "return_value")) or {}
    report: dict[str, Any] = converted.get("report") or {}
    conv = status.conversion
    conv.state = states[contract.STAGE_CONVERT]  # type: ignore[assignment]
    conv.rows = int(report.get("rows", 0))
    conv.records = int(report.get("records", 0))
    conv.parse_errors = int(report.get("parse_errors", 0))
    conv.avro_uri = str(report.get("avro_uri", ""))
    conv.masked_prefixes = int(report.get("masked_prefixes", 0))
    conv.repairs.update({str(k): int(v) for k, v in (report.get("repairs") or {}).items()})
    conv.drops.update({str(k): int(v) for k, v in (report.get("drops") or {}).items()})
    if report.get("time_dropped"):  # rows, not records: dated outside the file's window
        conv.drops[TIME_DROPPED] = int(report["time_dropped"])
    damage = report.get("damage")
    if damage:
        conv.damage.offset = int(damage.get("offset", 0))
        conv.damage.reason = str(damage.get("reason", ""))
        conv.damage.records_skipped = int(damage.get("records_skipped", 0))
    # damaged, or some records could not be decoded: the rows are exact but incomplete
    if conv.state == pb.STAGE_STATE_SUCCEEDED and report.get("status") == "partial":
        conv.state = pb.STAGE_STATE_PARTIAL

    loaded: dict[str, Any] = run.xcoms.get((contract.TASK_LOAD, "return_value")) or {}
    load_state = states[contract.STAGE_LOAD]
    check_state = states[contract.STAGE_CHECK]
    if check_state == pb.STAGE_STATE_FAILED:  # one reply field for both stages
        load_state = check_state
    status.load.state = load_state  # type: ignore[assignment]
    status.load.rows_loaded = int(loaded.get("rows_loaded", 0))
    status.load.table = str(loaded.get("table", ""))
    status.load.load_job = str(loaded.get("load_job") or "")

    if loaded.get("not_loaded"):  # the load policy skipped it: neither converted nor loaded
        not_loaded(status, str(loaded["not_loaded"]), status.load.table)

    if failure is not None:
        status.failure.stage, status.failure.reason = failure

    if run.state == "success":
        partial = conv.state == pb.STAGE_STATE_PARTIAL
        status.outcome = pb.OUTCOME_PARTIAL if partial else pb.OUTCOME_SUCCEEDED
    elif run.state == "failed":
        status.outcome = pb.OUTCOME_FAILED
        if not status.HasField("failure"):
            status.failure.stage = "run"
            status.failure.reason = "the Airflow run failed"
    else:
        status.outcome = pb.OUTCOME_RUNNING


def not_loaded(status: pb.FileStatus, reason: str, table: str) -> None:
    """A verified file the load policy skipped: conversion and load SKIPPED, and why."""
    status.conversion.state = pb.STAGE_STATE_SKIPPED
    status.load.state = pb.STAGE_STATE_SKIPPED
    status.load.table = table
    status.load.not_loaded = f"archived, not loaded ({reason})"


def run_note(status: pb.FileStatus) -> str | None:
    """The note a finished partial run should carry in Airflow, so operators see it there too."""
    if status.outcome != pb.OUTCOME_PARTIAL:
        return None
    conv = status.conversion
    if conv.HasField("damage"):
        return (
            f"partial: {conv.rows} rows loaded; damage at byte {conv.damage.offset}: "
            f"{conv.damage.reason}"
        )
    return f"partial: {conv.rows} rows loaded; {conv.parse_errors} records could not be decoded"
