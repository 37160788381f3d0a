"""The coverage page's template: what each failed file offers, and hostile text escaped."""

from __future__ import annotations

import datetime as dt

import jinja2

from cloudz.archive import paths
from cloudz.settings import PROJECT_ROOT
from cloudz.warehouse.coverage_report import DayRange, FailedFile

SHA = "ab" * 32


def _render(failed: list[FailedFile]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROJECT_ROOT / "plugins" / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("coverage.html").render(
        window=DayRange.ending(dt.date(2025, 4, 15), 7),
        days=7,
        collector="",
        collectors=[],
        failed=failed,
        error=None,
        page_url="/coverage/",
        run_url=lambda run_id: f"/dags/mrt_file/runs/{run_id}",
        clear_url="/api/v2/dags/mrt_file/clearTaskInstances",
        trigger_url="/api/v2/dags/mrt_file/dagRuns",
        rerun_task="convert",
        files_ref="p.d.files",
        coverage_ref="p.d.coverage",
    )


def _failed(path: str, run_id: str | None, reason: str = "bad") -> FailedFile:
    return FailedFile(
        archive_path=path,
        sha256=SHA,
        collector=path.split("/")[0],
        kind="UPDATES",
        dump_time=None,
        stage="convert",
        reason=reason,
        run_id=run_id,
        recorded_at=dt.datetime(2025, 4, 15, tzinfo=dt.UTC),
    )


def test_own_runs_are_cleared_and_batch_failures_start_the_files_run() -> None:
    own = "rv.a/bgpdata/2025.04/UPDATES/updates.20250415.1200.bz2"
    batch = "rv.a/bgpdata/2025.04/UPDATES/updates.20250415.1215.bz2"
    own_run = paths.run_id(paths.parse(own), SHA)
    html = _render(
        [
            _failed(own, own_run),
            _failed(batch, "scheduled__2025-04-16T00:00:00+00:00", "<script>alert(1)</script>"),
        ]
    )
    assert f'class="rerun" data-run-id="{own_run}"' in html
    batch_run = paths.run_id(paths.parse(batch), SHA)
    assert f'class="start" data-run-id="{batch_run}"' in html
    assert f'data-archive-path="{batch}" data-sha256="{SHA}"' in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
