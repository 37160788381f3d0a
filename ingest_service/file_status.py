"""Build the reply (``FileStatus``) from what the bucket and the file's Airflow run say.

The per-file DAG's task ids and XCom keys are the contract read here; they are
named once, in ``cloudz.pipeline_contract``.
"""

from __future__ import annotations

from typing import Any

from cloudz import pipeline_contract as contract
from cloudz.ingest.v1 import ingest_pb2 as pb
from ingest_service.airflow_runs import RunSnapshot, TaskState
from ingest_service.archive_store import ArchivedObject, StoreResult

_ARCHIVE_RESULT = {
    StoreResult.STORED: pb.ARCHIVE_RESULT_STORED,
    StoreResult.ALREADY_ARCHIVED: pb.ARCHIVE_RESULT_ALREADY_ARCHIVED,
    StoreResult.CONFLICT: pb.ARCHIVE_RESULT_CONFLICT,
}

_RUNNING = {"running", "up_for_retry", "up_for_reschedule", "deferred", "restarting", "queued"}
_SKIPPED = {"upstream_failed", "skipped", "removed"}

#: which task ids make up each stage of the reply, in pipeline order
_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("verify", (contract.TASK_VERIFY,)),
    ("convert", (contract.TASK_CONVERT,)),
    ("load", (contract.TASK_LOAD, contract.TASK_CHECK)),
)

#: the XComs the reply needs, per task
XCOM_KEYS: dict[str, tuple[str, ...]] = {
    contract.TASK_VERIFY: (contract.XCOM_FAILURE,),
    contract.TASK_CONVERT: ("return_value", contract.XCOM_FAILURE),
    contract.TASK_LOAD: (contract.XCOM_FAILURE,),
    contract.TASK_CHECK: ("return_value", contract.XCOM_FAILURE),
}


def _stage_state(tasks: list[TaskState | None], run_ended: bool) -> int:
    states = [t.state if t is not None else None for t in tasks]
    if any(s == "failed" for s in states):
        return pb.STAGE_STATE_FAILED
    if states and all(s == "success" for s in states):
        return pb.STAGE_STATE_SUCCEEDED
    if any(s in _RUNNING for s in states) or (
        any(s == "success" for s in states) and not run_ended
    ):
        return pb.STAGE_STATE_RUNNING
    if any(s in _SKIPPED for s in states) or run_ended:
        return pb.STAGE_STATE_SKIPPED
    return pb.STAGE_STATE_PENDING


def archive_stage(result: StoreResult, obj: ArchivedObject, uri: str) -> pb.ArchiveStage:
    return pb.ArchiveStage(
        result=_ARCHIVE_RESULT[result], object_uri=uri, size=obj.size, archived_sha256=obj.sha256
    )


def apply_run(status: pb.FileStatus, run: RunSnapshot, run_url: str) -> None:
    """Fill the stages, outcome and failure of ``status`` from one read of the run."""
    status.run_id = run.run_id
    status.run_state = run.state
    status.run_url = run_url
    stage_states: dict[str, int] = {}
    for stage, task_ids in _STAGES:
        stage_states[stage] = _stage_state([run.tasks.get(t) for t in task_ids], run.ended)

    status.verify = stage_states["verify"]  # type: ignore[assignment]

    report: dict[str, Any] = run.xcoms.get((contract.TASK_CONVERT, "return_value")) or {}
    conv = status.conversion
    conv.state = stage_states["convert"]  # type: ignore[assignment]
    conv.rows = int(report.get("rows", 0))
    conv.records = int(report.get("records", 0))
    conv.parse_errors = int(report.get("parse_errors", 0))
    conv.avro_uri = str(report.get("avro_uri", ""))
    damage = report.get("damage")
    if damage:
        conv.damage.offset = int(damage.get("offset", 0))
        conv.damage.reason = str(damage.get("reason", ""))
        conv.damage.records_skipped = int(damage.get("records_skipped", 0))
    # damaged, or some records could not be decoded: the rows are exact but incomplete
    if conv.state == pb.STAGE_STATE_SUCCEEDED and report.get("status") == "partial":
        conv.state = pb.STAGE_STATE_PARTIAL

    checked: dict[str, Any] = run.xcoms.get((contract.TASK_CHECK, "return_value")) or {}
    status.load.state = stage_states["load"]  # type: ignore[assignment]
    status.load.rows_loaded = int(checked.get("rows_loaded", 0))
    status.load.table = str(checked.get("table", ""))

    for _, task_ids in _STAGES:
        for task_id in task_ids:
            ti = run.tasks.get(task_id)
            if ti is not None and ti.state == "failed":
                reason = run.xcoms.get((task_id, contract.XCOM_FAILURE))
                status.failure.stage = contract.STAGE_OF_TASK[task_id]
                status.failure.reason = str(reason or f"task {task_id} failed (see its log)")
                break
        if status.HasField("failure"):
            break

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
