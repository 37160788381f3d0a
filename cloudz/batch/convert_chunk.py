"""One mapped conversion task: verify and convert each file of a chunk.

The per-file DAG's own step (``convert_step.fetch_verify_convert``) runs for each file, so
both paths verify the same way and write the same Avro object next to the raw one. A file
that is wrong for good (bad sha256, not MRT, a bomb) is recorded *failed* in the files
catalog and left out of the load; it does not fail its neighbours. Anything else (the object
store or the network) fails the task, and Airflow's retry converts the chunk again: writing
an Avro object twice is harmless, since no load has read it yet or the claim says who did.
"""

from __future__ import annotations

import logging
from typing import Any

from cloudz import file_catalog

log = logging.getLogger(__name__)


def convert_chunk(
    gcp_conn_id: str, files_ref: str, run_id: str, try_number: int, chunk: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``[{"file", "report"}]`` of the converted files; failed ones are in the catalog."""
    from cloudz.file_pipeline import catalog_step, convert_step
    from cloudz.file_pipeline.stage_failure import StageFailed

    converted: list[dict[str, Any]] = []
    failed: list[file_catalog.CatalogRow] = []
    for file in chunk:
        try:
            report = convert_step.fetch_verify_convert(gcp_conn_id, file)
        except StageFailed as exc:
            log.error("%s failed at %s: %s", file["archive_path"], exc.stage, exc)
            failed.append(
                file_catalog.row_of(
                    file["archive_path"],
                    file["sha256"],
                    state=file_catalog.STATE_FAILED,
                    size=file.get("size"),
                    stage=exc.stage,
                    reason=str(exc),
                    run_id=run_id,
                )
            )
            continue
        converted.append({"file": file, "report": report})
    if failed:
        client = catalog_step.client(gcp_conn_id, files_ref)
        file_catalog.record_many(
            client,
            files_ref,
            failed,
            [f"{run_id}/{try_number}/failed/{row.archive_path}" for row in failed],
        )
    return converted
