"""The per-file DAG's unfinished runs, read through Airflow's REST API (v2).

A task cannot read the metadata database in Airflow 3; the REST API is the way, with the
credentials the receiver uses (``CLOUDZ_AIRFLOW_USER``: role *User* reads DAG runs).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

PAGE = 100


@dataclass(frozen=True)
class ActiveRun:
    run_id: str
    state: str
    #: when it started, or was queued if it has not started
    since: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "since": self.since.isoformat() if self.since else None,
        }


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def active_runs(base_url: str, username: str, password: str, dag_id: str) -> list[ActiveRun]:
    """Every queued or running run of ``dag_id`` (paged)."""
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=30) as client:
        resp = client.post("/auth/token", json={"username": username, "password": password})
        resp.raise_for_status()
        client.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        runs: list[ActiveRun] = []
        offset = 0
        while True:
            resp = client.get(
                f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns",
                params=[
                    ("state", "queued"),
                    ("state", "running"),
                    ("limit", str(PAGE)),
                    ("offset", str(offset)),
                    ("order_by", "id"),  # stable while runs end between pages
                ],
            )
            resp.raise_for_status()
            page = resp.json()["dag_runs"]
            for run in page:
                since = _time(run.get("start_date")) or _time(run.get("queued_at"))
                runs.append(ActiveRun(run["dag_run_id"], run["state"], since))
            if len(page) < PAGE:
                return runs
            offset += PAGE
