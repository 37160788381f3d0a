"""``cloudz-backfill``: bring a range of the source archive in, as an Airflow backfill.

A thin client of Airflow's REST API (what the UI's "Backfill" dialog calls): it turns
``mrt_backfill`` on (a paused DAG's backfill runs never start), creates one backfill of a
run per day, waits, and prints each day's plan (listed, to fetch, already loaded, to convert)
and load. The same can be done with ``airflow backfill create --dag-id mrt_backfill ...``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from datetime import date
from typing import Any

import click
import httpx

from cloudz.settings import Settings

DAG_ID = "mrt_backfill"


def _client(settings: Settings, user: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=settings.airflow_url, timeout=30)
    reply = client.post("/auth/token", json={"username": user, "password": password})
    if reply.status_code not in (200, 201):
        raise click.ClickException(
            f"Airflow at {settings.airflow_url} refused the login ({reply.status_code})"
        )
    client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
    return client


def _check(reply: httpx.Response, what: str) -> Any:
    if reply.status_code >= 300:
        raise click.ClickException(f"{what}: HTTP {reply.status_code}: {reply.text[:500]}")
    return reply.json()


def _xcom(api: httpx.Client, run_id: str, task_id: str, key: str) -> Any:
    reply = api.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
        params={"deserialize": True},
    )
    return reply.json().get("value") if reply.status_code == 200 else None


@click.command()
@click.option("--from", "from_date", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option(
    "--to", "to_date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day, included."
)
@click.option("--source", default="", help="Archive URL or directory (default: the setting).")
@click.option("--collectors", default="", help="Comma-separated collectors (default: all).")
@click.option(
    "--again",
    is_flag=True,
    help="Re-run days that ran before (reprocess_behavior=completed): still converts nothing "
    "that the catalog has loaded.",
)
@click.option(
    "--ignore-load-policy",
    is_flag=True,
    help="Convert and load every file of the days, also those the load policy skips "
    "(catalog state not_loaded_by_policy); with --again for days that ran before.",
)
@click.option("--max-active-runs", default=1, show_default=True, type=int)
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", default=6 * 3600, show_default=True, type=float)
@click.option("--user", default="admin", show_default=True)
@click.option("--password", envvar="CLOUDZ_AIRFLOW_ADMIN_PASSWORD", default=None)
def main(
    from_date: Any,
    to_date: Any,
    source: str,
    collectors: str,
    again: bool,
    ignore_load_policy: bool,
    max_active_runs: int,
    wait: bool,
    timeout: float,
    user: str,
    password: str | None,
) -> None:
    """Backfill the days FROM..TO of the archive (one mrt_backfill run per day)."""
    settings = Settings.from_env()
    first, last = (
        date.fromisoformat(f"{from_date:%Y-%m-%d}"),
        date.fromisoformat(f"{to_date:%Y-%m-%d}"),
    )
    if last < first:
        raise click.BadParameter("--to is before --from")
    conf: dict[str, Any] = {
        k: v for k, v in {"source": source, "collectors": collectors}.items() if v
    }
    if ignore_load_policy:
        conf["ignore_load_policy"] = True
    with contextlib.closing(
        _client(settings, user, password or settings.airflow_admin_password)
    ) as api:
        _check(api.patch(f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}), "turning on")
        body = {
            "dag_id": DAG_ID,
            "from_date": f"{first}T00:00:00Z",
            "to_date": f"{last}T00:00:00Z",
            "dag_run_conf": conf,
            "max_active_runs": max_active_runs,
            "reprocess_behavior": "completed" if again else "none",
        }
        backfill = _check(api.post("/api/v2/backfills", json=body), "creating the backfill")
        click.echo(f"backfill {backfill['id']}: {first}..{last} {json.dumps(conf)}")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while (
            _check(api.get(f"/api/v2/backfills/{backfill['id']}"), "backfill")["completed_at"]
            is None
        ):
            if time.monotonic() > deadline:
                raise click.ClickException("the backfill did not complete in time")
            time.sleep(5)
        runs = _check(
            api.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill", "limit": 1000}
            ),
            "runs",
        )["dag_runs"]
        failed = 0
        for run in sorted(runs, key=lambda r: r["logical_date"]):
            day = date.fromisoformat(run["logical_date"][:10])
            if not first <= day <= last:
                continue
            while run["state"] not in ("success", "failed") and time.monotonic() < deadline:
                time.sleep(5)
                run = _check(api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}"), "run")
            plan = _xcom(api, run["dag_run_id"], "plan", "summary") or {}
            load = _xcom(api, run["dag_run_id"], "load", "return_value") or {}
            failed += run["state"] != "success"
            left = load.get("left_for_next_run")
            click.echo(
                f"{day} {run['state']}: listed {plan.get('listed', '?')}, to fetch "
                f"{plan.get('to_fetch', '?')}, loaded before {plan.get('done', '?')}, to convert "
                f"{plan.get('to_convert', '?')}, not loaded by the load policy "
                f"{plan.get('not_loaded_by_policy', 0) + load.get('not_loaded_by_policy', 0)}, "
                f"rows loaded {load.get('rows_loaded', 0)} in "
                f"{len(load.get('load_jobs') or [])} load job(s)"
                + (f", left for the next run: {left}" if left else "")
            )
        sys.exit(1 if failed else 0)
