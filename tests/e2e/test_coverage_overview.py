"""The coverage page on 58 collectors x 14 days of catalog rows, in a real browser.

The catalog and the reconcile's checks are generated (``coverage_catalog``: 87,586 catalog rows,
1,622 checks, one load job each) with one case per collector; the page must answer them: the
summary's counts, the failed files worst first with their tries and what a retry can do, the
picture's tiles, a tile's files, Re-run's refusal of a run Airflow does not have, **Run** on a
batch failure (a real file, archived as the mirror archives it: the run it starts loads it), and
a failed file whose name's date is outside its folder, on the page and in the reconcile's report.
Its screenshots are docs/images/coverage-overview.png and coverage-day.png
(``CLOUDZ_SCREENSHOT_DIR=docs/images``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import coverage_catalog as cat
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
from stack_session import Stack

from cloudz import pipeline_contract as contract
from cloudz.archive.store import SHA256_METADATA_KEY
from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.warehouse.clients import bigquery_client, count_file_rows, storage_client

pytestmark = pytest.mark.stack

DAYS = len(cat.DAYS)


@dataclass(frozen=True)
class Batch:
    """The batch failure's real file: its sha256 and the rows it converts to."""

    sha256: str
    rows: int


@pytest.fixture(scope="module")
def batch(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """The file the Run test starts: real MRT bytes archived with their sha256 (as the mirror
    archives), a failed catalog row of a mirror run; then the generated catalog, seeded."""
    mrt = tmp_path_factory.mktemp("batch") / "updates.bz2"
    named = dt.datetime(2025, 6, 14, 12, 0, tzinfo=dt.UTC)
    spec = UpdatesSpec(rows=300, seed=614, timestamp=int(named.timestamp()))
    written = write_file(mrt, generate_updates(spec))
    sha256 = hashlib.sha256(mrt.read_bytes()).hexdigest()
    blob = storage_client(stack.settings).bucket(stack.settings.bucket).blob(cat.BATCH_PATH)
    blob.metadata = {SHA256_METADATA_KEY: sha256}
    blob.upload_from_filename(str(mrt), if_generation_match=0)
    started = time.monotonic()
    s = stack.settings
    cat.seed(bigquery_client(s), s.files_ref, s.coverage_ref, cat.generate(sha256))
    print(f"seeded the catalog and checks in {time.monotonic() - started:.1f} s")
    return Batch(sha256, written.rows)


@pytest.fixture
def airflow(stack: Stack) -> Iterator[Airflow]:
    with contextlib.closing(stack.airflow()) as client:
        yield Airflow(client)


def _summary(coverage: Frame) -> dict[str, tuple[int, int | None, int, int | None]]:
    def number(text: str) -> int | None:
        return None if text.strip() == "—" else int(text)

    out = {}
    for row in coverage.locator("table.summary tr[data-line]").all():
        what = row.get_attribute("data-line") or ""
        cells = [
            row.locator(f"td.{c}").inner_text()
            for c in ("day-collectors", "day-files", "window-collectors", "window-files")
        ]
        dc, df, wc, wf = (number(c) for c in cells)
        assert dc is not None and wc is not None
        out[what] = (dc, df, wc, wf)
    return out


def _failed_rows(coverage: Frame) -> list[tuple[str, str, int]]:
    rows = coverage.locator("table.failed-files tr[data-archive-path]").all()
    return [
        (
            (r.get_attribute("data-archive-path") or "").split("/")[0],
            r.locator("td.stage").inner_text(),
            int(r.locator("td.tries").inner_text()),
        )
        for r in rows
    ]


def _tile(coverage: Frame, collector: str, day: dt.date) -> dict[str, str | None]:
    tile = coverage.locator(f'tr[data-collector="{collector}"] a.tile[data-day="{day}"]')
    return {
        "class": tile.get_attribute("class"),
        "there": tile.get_attribute("data-there"),
        "expected": tile.get_attribute("data-expected"),
        "failed": tile.get_attribute("data-failed"),
    }


def _day_cells(
    airflow: Airflow, stack: Stack, collector: str, day: dt.date
) -> dict[str, dict[str, str]]:
    reply = airflow.client.get(
        f"{stack.settings.airflow_url}/coverage/files",
        params={"collector": collector, "day": day.isoformat()},
        timeout=GUARD_SECONDS,
    )
    assert reply.status_code == 200, reply.text
    return {
        kind: dict(re.findall(r'<td class="(\w+)[^"]*">([^<]*)</td>', body))
        for kind, body in re.findall(r'<tr data-kind="(\w+)">(.*?)</tr>', reply.text, re.S)
    }


def test_58_collectors_x_14_days_summary_failures_picture_run(
    stack: Stack, airflow: Airflow, batch: Batch, tmp_path: Path
) -> None:
    shots = screenshot_dir(tmp_path)
    url = stack.settings.airflow_url
    started = time.monotonic()
    reply = airflow.client.get(
        f"{url}/coverage/", params={"end": cat.LAST.isoformat()}, timeout=GUARD_SECONDS
    )
    took = time.monotonic() - started
    print(f"the page of 58 x 14 answered in {took:.1f} s, {len(reply.content)} bytes")
    assert reply.status_code == 200, reply.text[:2000]

    with browser_page(stack) as page:
        page.goto(f"{url}/plugin/coverage")
        coverage = coverage_frame(page)
        show_days(coverage, cat.LAST.isoformat(), DAYS)

        # 1. the summary first, then the failed files, then the picture
        tops = [
            coverage.locator(sel).bounding_box()["y"]  # type: ignore[index]
            for sel in ("table.summary", "table.failed-files", "table.picture")
        ]
        assert tops == sorted(tops)
        assert _summary(coverage) == cat.EXPECTED

        # 2. failed files worst first, each with its tries and what a retry can do
        assert _failed_rows(coverage) == cat.FAILED_ORDER
        failed = coverage.locator("table.failed-files")
        rerun = failed.locator(f'tr[data-archive-path^="{cat.RERUN}/"]')
        assert rerun.locator("button.rerun").count() == 3
        not_mrt = failed.locator(f'tr[data-archive-path^="{cat.NOT_MRT}/"]')
        assert not_mrt.locator("button").count() == 0
        assert not_mrt.locator("td.why").inner_text().startswith("no re-run: the archived bytes")
        assert (
            "first 2025-06-12 00:05, last 2025-06-12 01:35"
            in not_mrt.locator("td.times").inner_text()
        )
        misfiled = failed.locator(f'tr[data-archive-path="{cat.MISFILED_PATH}"]')
        assert "refused by rule month-folder" in misfiled.locator("td.why").inner_text()
        batch_row = failed.locator(f'tr[data-archive-path="{cat.BATCH_PATH}"]')
        assert batch_row.locator("button.start").count() == 1

        # 3. the picture: a tile per collector-day, shaded by files there / expected
        assert coverage.locator("table.picture tr[data-collector]").count() == 58
        assert coverage.locator("table.picture a.tile").count() == 58 * DAYS
        last, before = cat.LAST, cat.LAST - dt.timedelta(days=1)
        assert _tile(coverage, cat.OUTAGE, last) == {
            "class": "tile shade-some", "there": "52", "expected": "108", "failed": "0"
        }  # fmt: skip
        assert _tile(coverage, cat.RERUN, last) == {
            "class": "tile shade-most failed", "there": "105", "expected": "108", "failed": "3"
        }  # fmt: skip
        assert _tile(coverage, cat.POLICY, last)["class"] == "tile shade-full"
        assert _tile(coverage, cat.NO_CHECK, last)["class"] == "tile shade-nocheck"
        assert _tile(coverage, cat.BATCH, before)["failed"] == "1"
        odd = coverage.locator("table.odd-files tr[data-archive-path]")
        assert [r.get_attribute("data-archive-path") for r in odd.all()] == [
            cat.MISFILED_PATH, cat.UNDATED_PATH
        ]  # fmt: skip

        # the whole page, as the operator scrolls it (the app's own address, no UI frame)
        whole = page.context.new_page()
        whole.set_viewport_size({"width": 1440, "height": 900})
        whole.goto(f"{url}/coverage/?end={cat.LAST}&days={DAYS}")
        whole.screenshot(path=shots / "coverage-overview.png", full_page=True)

        # 4. a tile opens that collector-day's files; Re-run asks Airflow, which has no such run
        with coverage.expect_navigation():
            coverage.locator(f'tr[data-collector="{cat.RERUN}"] a.tile[data-day="{last}"]').click()
        kinds = {
            r.get_attribute("data-kind"): r.locator("td.failed").inner_text()
            for r in coverage.locator("table.grid tr[data-kind]").all()
        }
        assert kinds == {"RIBS": "0", "UPDATES": "3"}
        assert coverage.locator("table.day-files tr[data-archive-path]").count() == 108
        first = coverage.locator("table.day-files tr[data-state=failed]").first
        first.locator("button.rerun").click()
        status = first.locator(".rerun-status.bad")
        status.wait_for()
        assert status.inner_text().startswith("refused (HTTP 404)")
        page.screenshot(path=shots / "coverage-day.png")

        # 5. Run: the batch failure gets its own run, which loads it
        with coverage.expect_navigation():
            coverage.locator("a", has_text="back to the coverage page").click()
        show_days(coverage, cat.LAST.isoformat(), DAYS)
        batch_row = coverage.locator(f'table.failed-files tr[data-archive-path="{cat.BATCH_PATH}"]')
        batch_row.locator("button.start").click()
        status = batch_row.locator(".rerun-status.ok")
        status.wait_for()
        own = f"mrt:{cat.BATCH_PATH.replace('/', '~')}:{batch.sha256[:16]}"
        assert status.inner_text() == f"run started: {own}"
        wait_for("the run ends", lambda: airflow.run_state(own) in ("success", "failed"))
        assert airflow.run_state(own) == "success"
        rows = count_file_rows(bigquery_client(stack.settings), stack.settings, cat.BATCH_PATH)
        assert rows == batch.rows
        show_days(coverage, cat.LAST.isoformat(), DAYS)
        assert coverage.locator(f'tr[data-archive-path="{cat.BATCH_PATH}"]').count() == 0
        assert _tile(coverage, cat.BATCH, before)["class"] == "tile shade-full"
        assert _summary(coverage)["failed"] == (1, 3, 3, 5)

    # the check's and the catalog's moments apart: 6 files archived after the check
    cells = _day_cells(airflow, stack, cat.AFTER_CHECK, last)
    assert (cells["UPDATES"]["archived"], cells["UPDATES"]["since_check"]) == ("90", "6")
    assert cells["UPDATES"]["missing"] == "0"

    # 6. the reconcile reports the failed file whose name's date is outside its folder
    with contextlib.closing(stack.airflow()) as api:
        report = reconcile(
            api, from_day=cat.DAYS[-1].isoformat(), to_day=last.isoformat(), collectors=cat.MISFILED
        )
    assert report["failed"] == [
        {
            "archive_path": cat.MISFILED_PATH,
            "sha256": cat.SHA,
            "stage": contract.STAGE_CONVERT,
            "reason": "convert task timed out",
            "run_id": cat.BATCH_RUN,
        }
    ], report
