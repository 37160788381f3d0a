"""The load policy on the stack: with RIBs skipped (the Airflow Variable ``cloudz_load_policy``),
an uploaded RIB is archived and verified but not loaded, the reconcile leaves it, and a backfill
with ``--ignore-load-policy`` loads it exactly once."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from archive_server import build_archive
from reconcile_run import reconcile
from stack_session import Stack, upload_cli

from cloudz.load_policy import STATE_NOT_LOADED_BY_POLICY, VARIABLE
from cloudz.warehouse import file_catalog
from cloudz.warehouse.clients import bigquery_client, count_file_rows
from cloudz.warehouse.file_rows import TimeWindow

pytestmark = pytest.mark.stack

DAY = date(2022, 6, 15)  # a day no other test's files are named in
COLLECTOR = "route-views.linx"
POLICY = "*/RIBS: none"
BIN = Path(sys.executable).parent


@contextlib.contextmanager
def variable(api: httpx.Client, key: str, value: str) -> Iterator[None]:
    """An Airflow Variable set for the block (the operator's way to change the policy)."""
    reply = api.post("/api/v2/variables", json={"key": key, "value": value})
    assert reply.status_code in (200, 201), reply.text
    try:
        yield
    finally:
        api.delete(f"/api/v2/variables/{key}")


def test_a_skipped_rib_is_archived_not_loaded_left_by_the_reconcile_and_backfilled_once(
    stack: Stack, tmp_path: Path
) -> None:
    tree = build_archive(
        tmp_path / "archive",
        collectors=(COLLECTOR,),
        days=(DAY,),
        rib_every=timedelta(days=1),
        updates_every=timedelta(days=1),
        truncated=False,
    )
    rib = next(f for f in tree.files if f.kind == "RIBS")
    window = TimeWindow.days(DAY - timedelta(days=1), DAY + timedelta(days=1))
    client = bigquery_client(stack.settings)
    with contextlib.closing(stack.airflow()) as api, variable(api, VARIABLE, POLICY):
        code, reply = upload_cli(stack, rib.local_path, rib.archive_path)
        assert code == 0, reply
        assert reply["outcome"] == "OUTCOME_SUCCEEDED"
        assert reply["archive"]["result"] == "ARCHIVE_RESULT_STORED"
        assert reply["verify"] == "STAGE_STATE_SUCCEEDED"
        assert reply["conversion"]["state"] == reply["load"]["state"] == "STAGE_STATE_SKIPPED"
        assert reply["load"]["notLoaded"] == f"archived, not loaded (load policy: {POLICY})"
        assert count_file_rows(client, stack.settings, rib.archive_path, window) == 0
        rows = file_catalog.stored_rows(client, stack.settings.files_ref, rib.archive_path)
        assert [r["state"] for r in rows] == [STATE_NOT_LOADED_BY_POLICY]
        assert rows[0]["reason"] == f"load policy: {POLICY}"

        report = reconcile(
            api, from_day=str(DAY), to_day=str(DAY), collectors=COLLECTOR,
            settle_minutes=0, recount="none",
        )  # fmt: skip
        assert report["not_loaded_by_policy"] == 1 and report["to_heal"] == 0, report
        assert count_file_rows(client, stack.settings, rib.archive_path, window) == 0

        backfill = stack.run(
            str(BIN / "cloudz-backfill"), "--from", str(DAY), "--to", str(DAY),
            "--source", str(tree.root), "--collectors", COLLECTOR, "--ignore-load-policy",
            timeout=1200,
        )  # fmt: skip
        assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    # loaded once: as many rows as the converter writes for the file, and the catalog says so
    assert count_file_rows(client, stack.settings, rib.archive_path, window) == rib.rows
    rows = file_catalog.stored_rows(client, stack.settings.files_ref, rib.archive_path)
    assert rows[-1]["state"] == file_catalog.STATE_LOADED and int(rows[-1]["rows"]) == rib.rows
