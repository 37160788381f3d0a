"""The coverage page in Airflow's UI (Browse > Coverage).

First a summary (collectors with files missing, failed, partial, silent, unknown; on the last
day and over the window), then the failed files worst first, each with its tries, its stage and
reason, a link to its run and Re-run (clears the run's ``convert`` and what follows, the UI's
"Clear" call) or Run (starts the file's own run after a batch failure) where a retry can help,
else why not; then the picture, collectors x days shaded by the files there out of those
expected, each tile opening that collector-day's files (``/files``); then the files whose names
give no day. Queries: ``cloudz.warehouse.coverage_report``; summary and picture:
``cloudz.warehouse.coverage_summary``. docs/operations-ui.md describes it.

Airflow imports every module of the plugins folder in each of its processes, task processes
included (they look for listeners), and in a task process the imports of the page (FastAPI,
Airflow's auth dependencies, the BigQuery client) cost about two seconds. So this module imports
only the plugin base class, and the page's app is built the first time the api-server asks
for ``fastapi_apps``.
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, whose
# names are imported inside ``build_app``
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    from fastapi import FastAPI

#: where the page's app is mounted on the api-server; the UI shows it at /plugin/coverage
URL_PREFIX = "/coverage"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def build_app() -> "FastAPI":
    """The page's app; every endpoint needs a user allowed to read the per-file DAG's runs."""
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor
    from typing import Annotated
    from urllib.parse import quote, urlencode

    import jinja2
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, Query, Request
    from fastapi.responses import HTMLResponse

    from cloudz import pipeline_contract as contract
    from cloudz.file_pipeline.failure_kinds import offer
    from cloudz.settings import Settings
    from cloudz.warehouse import coverage_report, coverage_summary
    from cloudz.warehouse.clients import bigquery_client
    from cloudz.warehouse.coverage_report import DayRange

    settings = Settings.from_env()
    client = functools.cache(lambda: bigquery_client(settings))
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    can_read_runs = requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=contract.DAG_ID)
    app = FastAPI(title="Coverage", dependencies=[Depends(can_read_runs)])

    def airflow_base(request: Request) -> str:
        """Airflow's own path prefix (``[api] base_url``): the app is mounted below it."""
        root = str(request.scope.get("root_path", ""))
        return root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else root

    def common(request: Request) -> dict[str, Any]:
        base = airflow_base(request)
        return {
            "page_url": f"{base}{URL_PREFIX}/",
            "files_url": f"{base}{URL_PREFIX}/files",
            "run_url": lambda run_id: (
                f"{base}/dags/{contract.DAG_ID}/runs/{quote(run_id, safe='')}"
            ),
            "clear_url": f"{base}/api/v2/dags/{contract.DAG_ID}/clearTaskInstances",
            "trigger_url": f"{base}/api/v2/dags/{contract.DAG_ID}/dagRuns",
            "rerun_task": contract.TASK_CONVERT,
            "files_ref": settings.files_ref,
            "coverage_ref": settings.coverage_ref,
            "action": offer,
            "query": urlencode,
        }

    @app.get("/", response_class=HTMLResponse)
    def page(
        request: Request,
        days: Annotated[int, Query(ge=1, le=coverage_report.MAX_DAYS)] = 14,
        end: Annotated[dt.date | None, Query(description="last UTC day (default today)")] = None,
        collector: Annotated[str | None, Query(max_length=200)] = None,
    ) -> HTMLResponse:
        """Summary, failed files (worst first), the picture, files whose names give no day."""
        collector = (collector or "").strip() or None
        now = dt.datetime.now(dt.UTC)
        window = DayRange.ending(end or now.date(), days)
        error = None
        cells: list[coverage_report.CoverageCell] = []
        failed = odd = coverage_report.Listed([], 0)
        try:
            ref, bq = settings.files_ref, client()
            # three independent queries: BigQuery runs them side by side
            with ThreadPoolExecutor(3) as pool:
                grid = pool.submit(
                    coverage_report.grid, bq, ref, settings.coverage_ref, window, collector, now
                )
                failing = pool.submit(
                    coverage_report.failed_files, bq, ref, window, collector, now=now
                )
                odd_names = pool.submit(
                    coverage_report.odd_files, bq, ref, window, collector, now=now
                )
                cells, failed, odd = grid.result(), failing.result(), odd_names.result()
        except Exception as exc:  # the warehouse's answer, shown to the operator
            error = f"{type(exc).__name__}: {exc}"
        html = templates.get_template("coverage.html").render(
            **common(request),
            window=window,
            days=days,
            collector=collector or "",
            now=now,
            summary=coverage_summary.summary(cells, window, odd.files, odd.total),
            rows=coverage_summary.picture(cells, window),
            failed=failed,
            odd=odd,
            error=error,
        )
        return HTMLResponse(html, status_code=502 if error else 200)

    @app.get("/files", response_class=HTMLResponse)
    def files(
        request: Request,
        collector: Annotated[str, Query(min_length=1, max_length=200)],
        day: Annotated[dt.date, Query(description="the UTC day of the files' names")],
    ) -> HTMLResponse:
        """One collector-day (a tile of the picture): its counts and every file."""
        now = dt.datetime.now(dt.UTC)
        window = DayRange(day, day)
        error = None
        cells: list[coverage_report.CoverageCell] = []
        listed = coverage_report.Listed([], 0)
        try:
            bq = client()
            cells = coverage_report.grid(
                bq, settings.files_ref, settings.coverage_ref, window, collector, now
            )
            listed = coverage_report.day_files(bq, settings.files_ref, collector, day)
        except Exception as exc:  # the warehouse's answer, shown to the operator
            error = f"{type(exc).__name__}: {exc}"
        html = templates.get_template("coverage_files.html").render(
            **common(request),
            collector=collector,
            day=day,
            now=now,
            cells=cells,
            listed=listed,
            error=error,
        )
        return HTMLResponse(html, status_code=502 if error else 200)

    return app


class CoveragePlugin(AirflowPlugin):
    """Browse > Coverage: the page in an iframe of the UI, served by the api-server."""

    name = "cloudz_coverage"
    external_views = [  # noqa: RUF012 (Airflow's own attribute type)
        {
            "name": "Coverage",
            "href": f"{URL_PREFIX}/",
            "url_route": "coverage",
            "destination": "nav",
            "category": "browse",
        }
    ]

    @functools.cached_property
    def fastapi_apps(self) -> list[Any]:  # type: ignore[override]
        """Built on first use: only the api-server (and ``airflow plugins``) asks."""
        return [{"app": build_app(), "url_prefix": URL_PREFIX, "name": "Coverage"}]
