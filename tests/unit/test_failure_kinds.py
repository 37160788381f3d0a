"""Which recorded failures the coverage page offers a re-run for: the messages as the tasks
write them (convert_step, the converter's report and limits) when the file is at fault."""

from __future__ import annotations

import pytest

from cloudz import pipeline_contract as contract
from cloudz.convert.limits import PREFIX
from cloudz.convert.report import NOT_MRT
from cloudz.file_pipeline.failure_kinds import retry_cannot_help

URI = "gs://routeviews-archive/rv.a/bgpdata/2025.04/UPDATES/updates.20250415.1200.bz2"


@pytest.mark.parametrize(
    ("stage", "reason", "why"),
    [
        (contract.STAGE_CONVERT, f"{NOT_MRT}the first record has MRT type 20549", "not MRT"),
        (contract.STAGE_CONVERT, f"{PREFIX}decompressed 2 GB from 1 MB", "conversion limit"),
        (contract.STAGE_VERIFY, f"{URI} has sha256 {'a' * 64}, expected {'b' * 64}", "sha256"),
        (contract.STAGE_VERIFY, f"{URI} holds 10 bytes, expected 12", "sha256 or size"),
        (contract.STAGE_VERIFY, f"{URI} does not exist", "gone"),
        (contract.STAGE_VERIFY, "bad run conf: the conf names no archived file", "conf"),
    ],
)
def test_the_bytes_own_failures_say_why_no_retry(stage: str, reason: str, why: str) -> None:
    said = retry_cannot_help(stage, reason)
    assert said is not None and why in said


@pytest.mark.parametrize(
    ("stage", "reason"),
    [
        (contract.STAGE_LOAD, "load job failed: 503 backend error"),
        (contract.STAGE_LOAD, "job x is not a load job"),
        (contract.STAGE_CHECK, "the table holds 10 rows of the file, the conversion wrote 12"),
        (contract.STAGE_CONVERT, "convert task timed out"),
        (contract.STAGE_VERIFY, "503 GET gs://...: the object store did not answer"),
        ("reload", "no Avro object"),
        (None, None),
    ],
)
def test_other_failures_may_be_retried(stage: str | None, reason: str | None) -> None:
    assert retry_cannot_help(stage, reason) is None
