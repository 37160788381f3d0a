"""The reply for an archived file whose Airflow run is gone: from the files catalog.

The maintenance DAG (``dags/mrt_maintenance.py``) removes per-file runs older than the
retention, and only once their outcome is in the catalog. A status call, or an upload of
the same bytes again, for such a file finds no run: the receiver reads the file's newest
catalog row and answers with it (loaded or partial with the rows and the load job, failed
with the stage and reason), and starts no new run, so no row is appended again.

One query of the catalog's month partition (``file_catalog.stored_rows``), made only for a
file archived before and without a run: a new file never has a catalog row. The same query
tells a status call for a path where nothing is archived whether an operator quarantined the
file that was there (``cloudz-quarantine``): the reply then says so, and which version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cloudz.archive.archived_file import ArchivedFile
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.warehouse import file_catalog
from ingest_service import file_status

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)

_OUTCOME = {
    file_catalog.STATE_LOADED: pb.OUTCOME_SUCCEEDED,
    file_catalog.STATE_PARTIAL: pb.OUTCOME_PARTIAL,
    file_catalog.STATE_FAILED: pb.OUTCOME_FAILED,
    # an operator moved the version out of the archive (``cloudz-quarantine``): not archived
    file_catalog.STATE_QUARANTINED: pb.OUTCOME_REJECTED,
    file_catalog.STATE_NOT_LOADED_BY_POLICY: pb.OUTCOME_SUCCEEDED,
}
#: the run's state a reply from the catalog carries (the run itself is gone)
RUN_STATE_CLEANED = "cleaned"


def newest_row(rows: list[dict[str, Any]], sha256: str) -> dict[str, Any] | None:
    """The newest catalog row of this version of the file (rows come oldest first)."""
    mine = [r for r in rows if r.get("sha256") == sha256]
    return mine[-1] if mine else None


def apply_row(status: pb.FileStatus, row: dict[str, Any], table_ref: str) -> None:
    """Fill the stages and outcome of ``status`` from a catalog row."""
    state = str(row["state"])
    status.outcome = _OUTCOME.get(state, pb.OUTCOME_FAILED)
    status.run_id = str(row.get("run_id") or status.run_id)
    status.run_state = RUN_STATE_CLEANED
    status.ClearField("run_url")  # the run is no longer in Airflow
    rows = int(row.get("rows") or 0)
    if state in (file_catalog.STATE_LOADED, file_catalog.STATE_PARTIAL):
        partial = state == file_catalog.STATE_PARTIAL
        status.verify = pb.STAGE_STATE_SUCCEEDED
        status.conversion.state = pb.STAGE_STATE_PARTIAL if partial else pb.STAGE_STATE_SUCCEEDED
        status.conversion.rows = rows
        status.conversion.records = int(row.get("records") or 0)
        status.conversion.parse_errors = int(row.get("parse_errors") or 0)
        if row.get("damage_offset") is not None:
            status.conversion.damage.offset = int(row["damage_offset"])
            status.conversion.damage.reason = str(row.get("reason") or "")
        status.load.state = pb.STAGE_STATE_SUCCEEDED
        status.load.rows_loaded = rows
        status.load.table = table_ref
        status.load.load_job = str(row.get("load_job") or "")
        return
    if state == file_catalog.STATE_NOT_LOADED_BY_POLICY:  # archived and verified, on purpose
        status.verify = pb.STAGE_STATE_SUCCEEDED
        file_status.not_loaded(status, str(row.get("reason") or "load policy"), table_ref)
        return
    if state == file_catalog.STATE_QUARANTINED:
        status.archive.result = pb.ARCHIVE_RESULT_UNSPECIFIED  # no longer at its path
    status.failure.stage = str(row.get("stage") or "run")
    status.failure.reason = str(row.get("reason") or "the file's run failed")


def quarantine_note(rows: list[dict[str, Any]]) -> str | None:
    """The newest quarantine among a path's catalog rows, in words; None when none."""
    quarantined = [r for r in rows if r.get("state") == file_catalog.STATE_QUARANTINED]
    if not quarantined:
        return None
    row = quarantined[-1]
    return (
        f"the version with sha256 {row['sha256']} was quarantined at {row.get('recorded_at')}: "
        f"{row.get('reason') or ''}. Upload the correct file to this path."
    )


class CatalogAnswers:
    """Reads the catalog for files without a run; a client made on first use."""

    def __init__(
        self, client_factory: Callable[[], bigquery.Client], files_ref: str, table_ref: str
    ) -> None:
        self._factory = client_factory
        self._client: bigquery.Client | None = None
        self._lock = threading.Lock()
        self.files_ref = files_ref
        self.table_ref = table_ref

    def _get_client(self) -> bigquery.Client:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def row_for(self, file: ArchivedFile) -> dict[str, Any] | None:
        """The file's newest catalog row, or None (none, or the catalog could not be read:
        then the caller goes on as before, and the run it starts finds the file loaded)."""
        try:
            rows = file_catalog.stored_rows(self._get_client(), self.files_ref, file.archive_path)
        except Exception as exc:  # the catalog unreachable must not fail the upload
            log.warning("files catalog not read for %s: %s", file.archive_path, exc)
            return None
        return newest_row(rows, file.sha256)

    def quarantined(self, archive_path: str) -> str | None:
        """Why nothing is archived at ``archive_path`` when an operator quarantined what was
        there (its newest *quarantined* catalog row), else None."""
        try:
            rows = file_catalog.stored_rows(self._get_client(), self.files_ref, archive_path)
        except Exception as exc:  # the catalog unreachable: the plain "nothing archived"
            log.warning("files catalog not read for %s: %s", archive_path, exc)
            return None
        return quarantine_note(rows)

    def answer(self, status: pb.FileStatus, file: ArchivedFile) -> bool:
        """Fill ``status`` from the catalog; False when the catalog has no row of the file."""
        row = self.row_for(file)
        if row is None:
            return False
        apply_row(status, row, self.table_ref)
        return True
