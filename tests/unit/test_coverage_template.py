"""The coverage page's templates rendered from known cells and files: the summary, the
picture's tiles, what each failed file offers (and why not), and hostile text escaped."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

import jinja2

from cloudz.archive import paths
from cloudz.file_pipeline.failure_kinds import offer
from cloudz.settings import PROJECT_ROOT
from cloudz.warehouse import coverage_summary
from cloudz.warehouse.coverage_report import CatalogFile, CoverageCell, DayRange, Listed

SHA = "ab" * 32
LAST = dt.date(2025, 4, 15)
WINDOW = DayRange.ending(LAST, 7)
NOW = dt.datetime(2025, 4, 15, 18, 0, tzinfo=dt.UTC)


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROJECT_ROOT / "plugins" / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _common() -> dict[str, Any]:
    return {
        "page_url": "/coverage/",
        "files_url": "/coverage/files",
        "run_url": lambda run_id: f"/dags/mrt_file/runs/{run_id}",
        "clear_url": "/api/v2/dags/mrt_file/clearTaskInstances",
        "trigger_url": "/api/v2/dags/mrt_file/dagRuns",
        "rerun_task": "convert",
        "files_ref": "p.d.files",
        "coverage_ref": "p.d.coverage",
        "action": offer,
        "query": urlencode,
    }


def _render(
    failed: list[CatalogFile],
    cells: list[CoverageCell] | None = None,
    odd: list[CatalogFile] | None = None,
) -> str:
    cells = cells or []
    odd = odd or []
    return (
        _env()
        .get_template("coverage.html")
        .render(
            **_common(),
            window=WINDOW,
            days=7,
            collector="",
            now=NOW,
            summary=coverage_summary.summary(cells, WINDOW, odd, len(odd)),
            rows=coverage_summary.picture(cells, WINDOW),
            failed=Listed(failed, len(failed)),
            odd=Listed(odd, len(odd)),
            error=None,
        )
    )


def _failed(
    path: str, run_id: str | None, reason: str = "bad", stage: str = "load", tries: int = 1
) -> CatalogFile:
    return CatalogFile(
        archive_path=path,
        sha256=SHA,
        collector=path.split("/")[0],
        kind="UPDATES",
        dump_time=None,
        folder="2025.04",
        state="failed",
        stage=stage,
        reason=reason,
        run_id=run_id,
        recorded_at=dt.datetime(2025, 4, 15, 12, 30, tzinfo=dt.UTC),
        tries=tries,
        first_failed=dt.datetime(2025, 4, 15, 9, 0, tzinfo=dt.UTC),
    )


def _row(html: str, path: str) -> str:
    m = re.search(rf'<tr data-archive-path="{re.escape(path)}".*?</tr>', html, re.S)
    assert m, path
    return m.group(0)


def test_own_runs_are_cleared_batch_failures_start_the_files_run_bad_bytes_neither() -> None:
    own = "rv.a/bgpdata/2025.04/UPDATES/updates.20250415.1200.bz2"
    batch = "rv.a/bgpdata/2025.04/UPDATES/updates.20250415.1215.bz2"
    not_mrt = "rv.a/bgpdata/2025.04/UPDATES/updates.20250415.1230.bz2"
    undated = "rv.a/bgpdata/2025.04/UPDATES/quagga.bz2"
    own_run = paths.run_id(paths.parse(own), SHA)
    not_mrt_run = paths.run_id(paths.parse(not_mrt), SHA)
    html = _render(
        [
            _failed(own, own_run, tries=3),
            _failed(batch, "scheduled__2025-04-16T00:00:00+00:00", "<script>alert(1)</script>"),
            _failed(not_mrt, not_mrt_run, "not an MRT file: x", "convert"),
            _failed(undated, "scheduled__2025-04-16T00:00:00+00:00"),
        ]
    )  # fmt: skip
    row = _row(html, own)
    assert f'class="rerun" data-run-id="{own_run}"' in row
    assert 'class="tries">3<' in row
    assert "first 2025-04-15 09:00, last 2025-04-15 12:30" in row
    batch_run = paths.run_id(paths.parse(batch), SHA)
    row = _row(html, batch)
    assert f'class="start" data-run-id="{batch_run}"' in row
    assert f'data-archive-path="{batch}" data-sha256="{SHA}"' in row
    row = _row(html, not_mrt)
    assert "button" not in row
    assert "no re-run: the archived bytes are not MRT" in row
    row = _row(html, undated)
    assert "button" not in row
    assert "refused by the archive&#39;s rules now (no date in the name)" in row
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _cell(collector: str, day: dt.date, kind: str, **counts: Any) -> CoverageCell:
    values: dict[str, Any] = {
        "expected": 96 if kind == "UPDATES" else 12,
        "archived": 96 if kind == "UPDATES" else 12,
        "latest_dump": None,
        "known": True,
        "silent": False,
        "checked_at": NOW,
        "loaded": 96 if kind == "UPDATES" else 12,
        "partial": 0,
        "failed": 0,
        "by_policy": 0,
        "recorded_last": NOW,
    }
    values.update(counts)
    return CoverageCell(day=day, collector=collector, kind=kind, **values)


def test_the_summary_comes_first_and_the_picture_has_a_tile_per_collector_day() -> None:
    cells = [
        _cell(c, d, k)
        for c in ("rv.a", "rv.b")
        for d in WINDOW.days
        for k in ("RIBS", "UPDATES")
        if not (c == "rv.b" and d == LAST)
    ]
    # rv.b's last day: a failure, 11 missing, silent; rv.c: unknown, one day, no check
    cells += [
        _cell("rv.b", LAST, "UPDATES", archived=85, loaded=84, failed=1, silent=True),
        _cell("rv.b", LAST, "RIBS"),
        _cell("rv.c", LAST - dt.timedelta(days=2), "UPDATES", expected=None, archived=None,
              checked_at=None, known=False, loaded=3),
    ]  # fmt: skip
    odd = [
        CatalogFile("rv.a/bgpdata/2025.04/UPDATES/quagga.bz2", SHA, "rv.a", "UPDATES", None,
                    "2025.04", "loaded", None, None, "r", NOW)
    ]  # fmt: skip
    html = _render([], cells, odd)

    order = [html.index(h) for h in ("<h2>Summary", '<h2 id="failed"', '<h2 id="picture"')]
    assert order == sorted(order)
    lines = {
        m["what"]: (m["dc"], m["df"], m["wc"], m["wf"])
        for m in re.finditer(
            r'<tr data-line="(?P<what>[^"]+)">\s*<td[^>]*>[^<]*</td>\s*'
            r"<td[^>]*>(?P<dc>[^<]*)</td>\s*<td[^>]*>(?P<df>[^<]*)</td>\s*"
            r"<td[^>]*>(?P<wc>[^<]*)</td>\s*<td[^>]*>(?P<wf>[^<]*)</td>",
            html,
        )
    }
    assert lines["missing"] == ("1", "11", "1", "11")
    assert lines["failed"] == ("1", "1", "1", "1")
    assert lines["silent"] == ("1", "—", "1", "—")
    assert lines["unknown"] == ("0", "—", "1", "—")
    assert lines["name gives no day"] == ("0", "0", "1", "1")
    tiles = re.findall(r'<a class="tile shade-(\w+)( failed)?" data-day="([-0-9]+)"', html)
    assert len(tiles) == 2 * 7 + 1
    assert ("half", " failed", LAST.isoformat()) in tiles  # 96 of 108 there: 89 %
    assert ("nocheck", "", (LAST - dt.timedelta(days=2)).isoformat()) in tiles
    assert 'href="/coverage/files?collector=rv.b&amp;day=2025-04-15"' in html
    assert '<span class="badge">unknown</span>' in html
    assert '<span class="badge warn">silent UPDATES</span>' in html


def test_a_tile_opens_its_files() -> None:
    cell = _cell("rv.a", LAST, "UPDATES", archived=0, loaded=0, failed=1,
                 checked_at=NOW - dt.timedelta(hours=2))  # fmt: skip
    path = "rv.a/bgpdata/2025.04/UPDATES/updates.20250415.1200.bz2"
    html = (
        _env()
        .get_template("coverage_files.html")
        .render(
            **_common(),
            collector="rv.a",
            day=LAST,
            now=NOW,
            cells=[cell],
            listed=Listed([_failed(path, "scheduled__x")], 1),
            error=None,
        )
    )
    # the check saw none archived; the catalog's failure came after: no contradiction shown
    assert '<td class="since_check">1</td>' in html
    assert 'class="missing bad">95<' in html
    assert "2025-04-15 16:00" in html and "2025-04-15 18:00" in html
    assert f'<tr data-archive-path="{path}" data-state="failed">' in html
