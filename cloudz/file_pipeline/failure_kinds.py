"""Which recorded failures a re-run can fix, read from the catalog's stage and reason.

The tasks raise ``StageFailed`` (``stage_failure``) when the file itself is at fault: Airflow
fails the task at once, and a re-run reads the same bytes and fails the same way. The catalog
keeps only the stage and the message, so the messages those raises write are recognised here:
the coverage page offers Re-run or Run only for the others (a quota, a timeout, a fault of the
object store or the warehouse, a fixed bug, a spoiled Avro object) and says why not for these.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudz import pipeline_contract as contract
from cloudz.convert.limits import PREFIX as LIMIT_PREFIX
from cloudz.convert.report import NOT_MRT
from cloudz.warehouse.coverage_report import CatalogFile


def retry_cannot_help(stage: str | None, reason: str | None) -> str | None:
    """Why re-running the file cannot succeed, or None when a re-run may."""
    text = reason or ""
    if text.startswith(NOT_MRT):
        return "the archived bytes are not MRT: a re-run reads the same bytes"
    if text.startswith(LIMIT_PREFIX):
        return "the file crossed a conversion limit (a decompression bomb?): it would again"
    if stage == contract.STAGE_VERIFY:
        if "has sha256" in text or "bytes, expected" in text:
            return "the archived bytes are not the ones uploaded (sha256 or size): replace the file"
        if "does not exist" in text:
            return "the archived file is gone from the bucket: nothing to re-run on"
        if text.startswith("bad run conf"):
            return "the run's conf names no archived file: start the file's own run"
    return None


@dataclass(frozen=True)
class Offer:
    """What the coverage page offers for a failed file: ``rerun`` (clear its own run),
    ``run`` (start its own run after a batch failure) or ``none`` (``why``)."""

    kind: str
    run_id: str | None = None
    why: str | None = None


def offer(file: CatalogFile) -> Offer:
    """Re-run, Run, or why neither can help ``file`` (a failed catalog file)."""
    why_not = retry_cannot_help(file.stage, file.reason)
    if file.own_run_id is None:
        why_not = (
            f"its name is refused by the archive's rules now ({file.odd_name}): no run can "
            "start for it"
        )
    if why_not:
        return Offer("none", why=why_not)
    if file.per_file_run:
        return Offer("rerun", run_id=file.run_id)
    return Offer("run", run_id=file.own_run_id)
