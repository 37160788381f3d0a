"""The coverage page in a real browser: a file's run fails at the load (its Avro object was
spoiled between convert and load), the page shows it with its reason, its Re-run button clears
the run as the UI's Clear does, and the file's rows are then in the table exactly once.

Headless Chromium (Debian's, installed by ``scripts/ensure-chromium``) driven by playwright,
logged in as Airflow's UI logs in (the ``_token`` cookie), on the session's stack.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from coverage_browser import (
    GUARD_SECONDS,
    Airflow,
    browser_page,
    coverage_frame,
    screenshot_dir,
    show_days,
    wait_for,
)
from playwright.sync_api import Frame
from reconcile_run import reconcile
from stack_session import Stack, upload_cli

from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.cli.upload import Exit
from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.settings import PROJECT_ROOT
from cloudz.warehouse import coverage_report
from cloudz.warehouse.clients import bigquery_client, count_file_rows, storage_client
from cloudz.warehouse.coverage_report import DayRange

pytestmark = pytest.mark.stack

#: a listed collector and a day no other test uses
COLLECTOR = "route-views.bknix"
DAY = dt.date(2025, 4, 15)
ARCHIVE_PATH = f"{COLLECTOR}/bgpdata/2025.04/UPDATES/updates.20250415.1200.bz2"


@pytest.fixture
def airflow(stack: Stack) -> Iterator[Airflow]:
    with contextlib.closing(stack.airflow()) as client:
        yield Airflow(client)


@contextlib.contextmanager
def loads_held(airflow: Airflow, stack: Stack) -> Iterator[None]:
    """No load into the routes table starts (its pool has no slot) until the block ends."""
    pool = stack.settings.table_writes_pool
    airflow.pool_slots(pool, 0)
    try:
        yield
    finally:
        airflow.pool_slots(pool, stack.settings.table_writes_slots)


def check_reconcile_report(stack: Stack, archive_path: str, sha256: str, reason: str) -> None:
    """The reconcile DAG over the file's day reports it failed, with its stage and reason,
    and leaves it to an operator (its run already retried); it also writes the day's
    coverage rows the page shows."""
    with contextlib.closing(stack.airflow()) as api:
        report = reconcile(
            api, from_day=DAY.isoformat(), to_day=DAY.isoformat(), collectors=COLLECTOR
        )
    assert report["failed"] == [
        {
            "archive_path": archive_path,
            "sha256": sha256,
            "stage": contract.STAGE_LOAD,
            "reason": reason,
            "run_id": paths.run_id(paths.parse(archive_path), sha256),
        }
    ], report
    assert (report["to_heal"], report["healed"], report["loaded"]) == (0, 0, 0), report


def _newest_catalog_row(stack: Stack, archive_path: str) -> dict[str, Any]:
    from google.cloud import bigquery

    path = paths.parse(archive_path)
    sql = (
        f"SELECT state, stage, reason, run_id, recorded_at FROM `{stack.settings.files_ref}` "
        "WHERE month = @month AND archive_path = @path ORDER BY recorded_at DESC LIMIT 1"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("month", "DATE", dt.date(path.year, path.month, 1)),
            bigquery.ScalarQueryParameter("path", "STRING", archive_path),
        ]
    )
    (row,) = bigquery_client(stack.settings).query(sql, job_config=config).result()
    return dict(row.items())


def _good_load_jobs(stack: Stack, archive_path: str, sha256: str) -> list[Any]:
    """The file version's load jobs that succeeded (their ids are a deterministic sequence)."""
    from cloudz.file_pipeline.load_step import job_id_base

    base = job_id_base(stack.settings.table_ref, archive_path, sha256) + "_"
    jobs = bigquery_client(stack.settings).list_jobs(project=stack.settings.gcp_project)
    return [
        j
        for j in jobs
        if j.job_id.startswith(base) and j.state == "DONE" and j.error_result is None
    ]


# --- the page in the browser -------------------------------------------------------------
def _show_day(coverage: Frame, day: dt.date) -> None:
    """The week ending ``day``, asked for in the page's own form."""
    show_days(coverage, day.isoformat(), 7)


def _day_counts(stack: Stack, airflow: Airflow, day: dt.date, kind: str) -> dict[str, str]:
    """The counts of the collector-day's page (a tile opened) for ``kind``."""
    reply = airflow.client.get(
        f"{stack.settings.airflow_url}/coverage/files",
        params={"collector": COLLECTOR, "day": day.isoformat()},
        timeout=GUARD_SECONDS,
    )
    assert reply.status_code == 200, reply.text
    row = re.search(rf'<tr data-kind="{kind}">(.*?)</tr>', reply.text, re.S)
    assert row, reply.text
    cells = dict(re.findall(r'<td class="(\w+)[^"]*">([^<]*)</td>', row.group(1)))
    columns = ("expected", "archived", "missing", "loaded", "partial", "failed", "unaccounted")
    return {c: cells[c] for c in columns}


def test_a_failed_file_is_rerun_from_the_coverage_page(
    stack: Stack, airflow: Airflow, tmp_path: Path
) -> None:
    shots = screenshot_dir(tmp_path)
    mrt = tmp_path / "updates.bz2"
    written = write_file(
        mrt, generate_updates(UpdatesSpec(rows=400, seed=1504, timestamp=1_744_718_400))
    )
    sha256 = hashlib.sha256(mrt.read_bytes()).hexdigest()
    run_id = paths.run_id(paths.parse(ARCHIVE_PATH), sha256)
    avro = (
        storage_client(stack.settings)
        .bucket(stack.settings.bucket)
        .blob(paths.parse(ARCHIVE_PATH).avro_path)
    )

    # 1. the run converts, then its Avro object is spoiled before the load may start
    with ThreadPoolExecutor(1) as pool:
        with loads_held(airflow, stack):
            upload = pool.submit(upload_cli, stack, mrt, ARCHIVE_PATH, wait=900)
            wait_for(
                "convert done",
                lambda: upload.done() or airflow.task_state(run_id, "convert") == "success",
            )
            assert not upload.done(), upload.result()
            assert airflow.task_state(run_id, contract.TASK_LOAD) in (None, "scheduled")
            avro.upload_from_string(b"this is not an Avro object", content_type="text/plain")
        # the load fails, is retried twice with backoff, and the run fails
        code, reply = upload.result(timeout=GUARD_SECONDS + 300)
    assert (code, reply["outcome"]) == (Exit.FAILED, "OUTCOME_FAILED"), reply
    assert airflow.run_state(run_id) == "failed"
    failed_row = _newest_catalog_row(stack, ARCHIVE_PATH)
    assert (failed_row["state"], failed_row["stage"], failed_row["run_id"]) == (
        "failed", contract.STAGE_LOAD, run_id
    )  # fmt: skip
    assert failed_row["reason"]
    assert count_file_rows(bigquery_client(stack.settings), stack.settings, ARCHIVE_PATH) == 0

    # 2. ---- the reconcile DAG's report names the failed file and its reason --------------
    check_reconcile_report(stack, ARCHIVE_PATH, sha256, failed_row["reason"])

    # 3. the page answers only a logged-in user ...
    page_url = f"{stack.settings.airflow_url}/coverage/"
    assert httpx.get(page_url, timeout=30).status_code in (401, 403)
    shown = airflow.client.get(page_url, params={"end": DAY.isoformat()}, timeout=GUARD_SECONDS)
    assert shown.status_code == 200

    # ... and inside the Airflow UI shows the file with its reason; Re-run
    with browser_page(stack) as page:
        page.goto(f"{stack.settings.airflow_url}/plugin/coverage")
        coverage = coverage_frame(page)
        _show_day(coverage, DAY)
        failed = coverage.locator(f'tr[data-archive-path="{ARCHIVE_PATH}"]')
        failed.wait_for()
        assert failed.locator("td.stage").inner_text() == contract.STAGE_LOAD
        assert failed.locator("td.reason").inner_text().strip() == failed_row["reason"].strip()
        link = failed.locator("a").get_attribute("href")
        assert link == f"/dags/{contract.DAG_ID}/runs/{run_id.replace(':', '%3A')}"
        assert failed.locator("td.tries").inner_text() == "1"
        tile = coverage.locator(f'tr[data-collector="{COLLECTOR}"] a.tile[data-day="{DAY}"]')
        assert (tile.get_attribute("data-there"), tile.get_attribute("data-failed")) == ("0", "1")
        assert _day_counts(stack, airflow, DAY, "UPDATES") == {
            "expected": "96", "archived": "1", "missing": "95", "loaded": "0", "partial": "0",
            "failed": "1", "unaccounted": "0",
        }  # fmt: skip
        # a listed collector (no "unknown" badge); silence is judged only by a check whose
        # window reaches today, not by this one of a past day
        name = coverage.locator(f'tr[data-collector="{COLLECTOR}"] td.name')
        assert name.inner_text().strip() == COLLECTOR
        page.screenshot(path=shots / "coverage-page.png")

        failed.locator("button.rerun").click()
        status = failed.locator(".rerun-status.ok")
        status.wait_for()
        assert status.inner_text() == "re-run queued: cleared convert, load"
        page.screenshot(path=shots / "coverage-page-rerun.png")

        wait_for("the re-run ends", lambda: airflow.run_state(run_id) in ("success", "failed"))
        assert airflow.run_state(run_id) == "success"

        _show_day(coverage, DAY)
        counts = _day_counts(stack, airflow, DAY, "UPDATES")
        assert (counts["loaded"], counts["failed"]) == ("1", "0")
        tile = coverage.locator(f'tr[data-collector="{COLLECTOR}"] a.tile[data-day="{DAY}"]')
        assert (tile.get_attribute("data-there"), tile.get_attribute("data-failed")) == ("1", "0")
        assert coverage.locator(f'tr[data-archive-path="{ARCHIVE_PATH}"]').count() == 0
        page.screenshot(path=shots / "coverage-page-after.png")

    # 4. loaded exactly once: every row once, one successful load job, the catalog says loaded
    client = bigquery_client(stack.settings)
    assert count_file_rows(client, stack.settings, ARCHIVE_PATH) == written.rows
    assert len(_good_load_jobs(stack, ARCHIVE_PATH, sha256)) == 1
    assert _newest_catalog_row(stack, ARCHIVE_PATH)["state"] == "loaded"
    window = DayRange.ending(DAY, 7)
    files_ref = stack.settings.files_ref
    assert coverage_report.failed_files(client, files_ref, window, COLLECTOR).files == []


def test_the_plugin_module_is_cheap_to_import() -> None:
    """Every task process imports the plugins folder: the page's imports wait for the
    api-server."""
    code = (
        "import sys\n"
        "from airflow._shared.plugins_manager.plugins_manager import "
        "_load_plugins_from_plugin_directory as load\n"
        f"plugins, errors = load({str(PROJECT_ROOT / 'plugins')!r})\n"
        "assert not errors, errors\n"
        "assert [p.name for p in plugins] == ['cloudz_coverage'], plugins\n"
        "heavy = ('fastapi', 'google.cloud.bigquery', 'airflow.api_fastapi.core_api.security')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(plugins[0].external_views[0]['href'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=GUARD_SECONDS,
        cwd=tempfile.gettempdir(),
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "/coverage/"]
