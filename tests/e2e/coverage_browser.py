"""The coverage page in headless Chromium (Debian's, ``scripts/ensure-chromium``) driven by
playwright, logged in as Airflow's UI logs in (the ``_token`` cookie); and the REST calls the
page's tests wait on."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Frame, Page, sync_playwright
from stack_session import Stack

from cloudz import pipeline_contract as contract

CHROMIUM = "/usr/bin/chromium"
#: hang guards only: nothing here is a performance expectation
GUARD_SECONDS = 600.0


def screenshot_dir(tmp_path: Path) -> Path:
    """``CLOUDZ_SCREENSHOT_DIR`` if set (docs/images/coverage-*.png are these), else a temp dir."""
    where = os.environ.get("CLOUDZ_SCREENSHOT_DIR")
    directory = Path(where) if where else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def wait_for(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GUARD_SECONDS
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {what} not within {GUARD_SECONDS:.0f} s")
        time.sleep(0.5)


class Airflow:
    """The REST API as the admin."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def task_state(self, run_id: str, task_id: str) -> str | None:
        reply = self.client.get(
            f"/api/v2/dags/{contract.DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}"
        )
        if reply.status_code == 404:  # the run is not there yet
            return None
        reply.raise_for_status()
        return reply.json()["state"]  # type: ignore[no-any-return]

    def run_state(self, run_id: str) -> str | None:
        reply = self.client.get(f"/api/v2/dags/{contract.DAG_ID}/dagRuns/{run_id}")
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        return reply.json()["state"]  # type: ignore[no-any-return]

    def pool_slots(self, pool: str, slots: int) -> None:
        """Set the pool's slots (the patch body must name the pool and its deferred rule)."""
        current = self.client.get(f"/api/v2/pools/{pool}")
        current.raise_for_status()
        body = {
            "pool": pool,
            "slots": slots,
            "include_deferred": current.json()["include_deferred"],
        }
        reply = self.client.patch(
            f"/api/v2/pools/{pool}", params={"update_mask": "slots"}, json=body
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["slots"] == slots


def log_in(stack: Stack) -> str:
    """The JWT the UI's login puts in the ``_token`` cookie."""
    reply = httpx.post(
        f"{stack.settings.airflow_url}/auth/token",
        json={"username": "admin", "password": stack.settings.airflow_admin_password},
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["access_token"])


@contextlib.contextmanager
def browser_page(stack: Stack, height: int = 900) -> Iterator[Page]:
    """A logged-in page of headless Chromium."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            context = browser.new_context(viewport={"width": 1440, "height": height})
            context.add_cookies(
                [{"name": "_token", "value": log_in(stack), "url": stack.settings.airflow_url}]
            )
            page = context.new_page()
            page.set_default_timeout(GUARD_SECONDS * 1000)
            yield page
        finally:
            browser.close()


def coverage_frame(page: Page) -> Frame:
    """The UI's iframe that holds the page (Browse > Coverage)."""
    handle = page.locator("iframe").element_handle()
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_load_state()
    return frame


def show_days(coverage: Frame, last: str, days: int) -> None:
    """Fill the page's own form and submit it, as an operator does; returns once the frame
    holds the new page."""
    coverage.locator("input[name=end]").fill(last)
    coverage.locator("input[name=days]").fill(str(days))
    with coverage.expect_navigation():
        coverage.locator("button[type=submit]").click()
