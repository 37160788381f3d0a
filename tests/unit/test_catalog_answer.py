"""The reply for an archived file whose run retention removed, from its catalog rows."""

from __future__ import annotations

from typing import Any

from cloudz.archive.archived_file import ArchivedFile
from cloudz.ingest.v1 import ingest_pb2 as pb
from ingest_service.airflow_runs import RunSnapshot
from ingest_service.catalog_answer import CatalogAnswers, apply_row, newest_row
from ingest_service.service import IngestService

SHA = "ab" * 32
PATH = "route-views2/bgpdata/2026.01/UPDATES/updates.20260101.0000.bz2"


def _row(state: str, sha256: str = SHA, **kw: Any) -> dict[str, Any]:
    return {"archive_path": PATH, "sha256": sha256, "state": state, **kw}


def test_the_newest_row_of_this_version_answers() -> None:
    rows = [
        _row("failed", stage="convert", reason="bad"),
        _row("loaded", rows=5, load_job="j1"),
        _row("loaded", sha256="cd" * 32, rows=9),
    ]
    assert newest_row(rows, SHA) == rows[1]
    assert newest_row(rows, "ef" * 32) is None


def test_a_loaded_file_replies_succeeded_with_its_rows_and_load_job() -> None:
    status = pb.FileStatus(run_url="http://airflow/x")
    apply_row(
        status, _row("loaded", rows=42, records=7, load_job="cloudz_load_1", run_id="r"), "p.d.t"
    )
    assert status.outcome == pb.OUTCOME_SUCCEEDED
    assert status.load.rows_loaded == 42 and status.load.load_job == "cloudz_load_1"
    assert status.load.table == "p.d.t" and status.conversion.rows == 42
    assert status.run_id == "r" and status.run_state == "cleaned" and not status.run_url
    assert not status.HasField("failure")


def test_a_failed_or_partial_file_is_reported_as_such() -> None:
    failed = pb.FileStatus()
    apply_row(failed, _row("failed", stage="verify", reason="sha256 differs"), "t")
    assert failed.outcome == pb.OUTCOME_FAILED
    assert (failed.failure.stage, failed.failure.reason) == ("verify", "sha256 differs")
    assert failed.load.rows_loaded == 0
    partial = pb.FileStatus()
    apply_row(partial, _row("partial", rows=3, damage_offset=99, reason="truncated"), "t")
    assert partial.outcome == pb.OUTCOME_PARTIAL
    assert partial.conversion.state == pb.STAGE_STATE_PARTIAL
    assert partial.conversion.damage.offset == 99


class _Runs:
    def __init__(self, run: RunSnapshot | None) -> None:
        self.run = run

    def snapshot(self, run_id: str, xcom_keys: Any) -> RunSnapshot | None:
        return self.run


class _Catalog(CatalogAnswers):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__(lambda: None, "p.d.files", "p.d.routes")  # type: ignore[arg-type,return-value]
        self.rows = rows
        self.reads = 0

    def row_for(self, file: ArchivedFile) -> dict[str, Any] | None:
        self.reads += 1
        return newest_row(self.rows, file.sha256)


def _service(run: RunSnapshot | None, catalog: _Catalog) -> IngestService:
    return IngestService(store=None, runs=_Runs(run), catalog=catalog)  # type: ignore[arg-type]


def test_the_catalog_answers_only_for_an_archived_file_without_a_run() -> None:
    file = ArchivedFile.of(PATH, SHA, 10)
    catalog = _Catalog([_row("loaded", rows=5, load_job="j")])
    again = pb.FileStatus()
    again.archive.result = pb.ARCHIVE_RESULT_ALREADY_ARCHIVED
    assert _service(None, catalog)._answered_by_catalog(again, file)
    assert again.outcome == pb.OUTCOME_SUCCEEDED and again.load.load_job == "j"
    # a new file never has a catalog row: not even read
    new = pb.FileStatus()
    new.archive.result = pb.ARCHIVE_RESULT_STORED
    assert not _service(None, catalog)._answered_by_catalog(new, file)
    # a run still there answers as before
    assert not _service(RunSnapshot(file.run_id, "success"), catalog)._answered_by_catalog(
        again, file
    )
    assert catalog.reads == 1
    # no row: the usual path (a run is started)
    assert not _service(None, _Catalog([]))._answered_by_catalog(again, file)
