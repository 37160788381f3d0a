"""The coverage page in Airflow's UI (Browse > Coverage).

Per collector and day: files expected by the collector's cadence, archived, loaded, partial,
failed (``cloudz.warehouse.coverage_report``), with silent and unknown collectors marked; below, the
failed files with their stage and reason, a link to their run and a Re-run button that clears the
run's ``convert`` task and what follows it with the same REST call as the UI's "Clear" dialog.
docs/operations-ui.md describes it.

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
    from typing import Annotated
    from urllib.parse import quote

    import jinja2
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, Query, Request
    from fastapi.responses import HTMLResponse

    from cloudz import pipeline_contract as contract
    from cloudz.settings import Settings
    from cloudz.warehouse import coverage_report
    from cloudz.warehouse.clients import bigquery_client
    from cloudz.warehouse.coverage_report import CoverageCell, DayRange

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

    def day_range(end: dt.date | None, days: int) -> DayRange:
        return DayRange.ending(end or dt.datetime.now(dt.UTC).date(), days)

    def by_collector(cells: list[CoverageCell]) -> list[dict[str, Any]]:
        groups: dict[str, list[CoverageCell]] = {}
        for cell in cells:
            groups.setdefault(cell.collector, []).append(cell)
        return [
            {
                "name": name,
                "cells": rows,
                "unknown": any(c.known is False for c in rows),
                "silent": sorted({c.kind for c in rows if c.silent}),
            }
            for name, rows in groups.items()
        ]

    @app.get("/", response_class=HTMLResponse)
    def page(
        request: Request,
        days: Annotated[int, Query(ge=1, le=coverage_report.MAX_DAYS)] = 7,
        end: Annotated[dt.date | None, Query(description="last UTC day (default today)")] = None,
        collector: Annotated[str | None, Query(max_length=200)] = None,
    ) -> HTMLResponse:
        """The page: the grid per collector, then the failed files."""
        collector = (collector or "").strip() or None
        window = day_range(end, days)
        base = airflow_base(request)
        error = None
        try:
            cells = coverage_report.grid(
                client(), settings.files_ref, settings.coverage_ref, window, collector
            )
            failed = coverage_report.failed_files(client(), settings.files_ref, window, collector)
        except Exception as exc:  # the warehouse's answer, shown to the operator
            cells, failed, error = [], [], f"{type(exc).__name__}: {exc}"
        html = templates.get_template("coverage.html").render(
            window=window,
            days=days,
            collector=collector or "",
            collectors=by_collector(cells),
            failed=failed,
            error=error,
            page_url=f"{base}{URL_PREFIX}/",
            run_url=lambda run_id: f"{base}/dags/{contract.DAG_ID}/runs/{quote(run_id, safe='')}",
            clear_url=f"{base}/api/v2/dags/{contract.DAG_ID}/clearTaskInstances",
            trigger_url=f"{base}/api/v2/dags/{contract.DAG_ID}/dagRuns",
            rerun_task=contract.TASK_CONVERT,
            files_ref=settings.files_ref,
            coverage_ref=settings.coverage_ref,
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
