"""The Airflow REST API v2 calls the benches follow runs with, as the stack's admin user.

A JWT from ``/auth/token``, taken again when a long run outlives it (HTTP 401).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import quote

import httpx

from cloudz.settings import Settings

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


def parse_time(value: str | None) -> float | None:
    """An ISO time from Airflow as a Unix timestamp."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def run_times(run: dict[str, Any]) -> dict[str, Any]:
    """A DAG run's id, state and times (Unix timestamps)."""
    return {
        "run_id": run.get("dag_run_id"),
        "state": run.get("state"),
        "queued_at": parse_time(run.get("queued_at")),
        "start_date": parse_time(run.get("start_date")),
        "end_date": parse_time(run.get("end_date")),
    }


class Airflow:
    """The few REST API v2 calls of the benches, as one user (the stack's admin)."""

    def __init__(self, url: str, user: str, password: str, timeout: float = 60.0) -> None:
        self.url = url
        self._credentials = {"username": user, "password": password}
        self._client = httpx.Client(base_url=url, timeout=timeout)
        self._token = ""

    @classmethod
    def of(cls, settings: Settings, user: str = "admin") -> Airflow:
        """The API of the stack of ``settings``."""
        return cls(settings.airflow_url, user, settings.airflow_admin_password)

    def close(self) -> None:
        self._client.close()

    def _login(self) -> None:
        resp = self._client.post("/auth/token", json=self._credentials)
        resp.raise_for_status()
        self._token = str(resp.json()["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self._token:
            self._login()
        for _ in range(2):
            resp = self._client.request(
                method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs
            )
            if resp.status_code != 401:  # else the token expired during a long run
                return resp
            self._login()
        return resp

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON; any status of 300 or more ends the bench with the answer."""
        resp = self.request(method, path, **kwargs)
        if resp.status_code >= 300:
            raise SystemExit(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json()

    # --- DAGs -----------------------------------------------------------------------------
    def dag(self, dag_id: str, timeout: float) -> dict[str, Any]:
        """The DAG once the dag-processor has parsed it (new files take a few seconds)."""
        end = time.monotonic() + timeout
        while True:
            resp = self.request("GET", f"/api/v2/dags/{dag_id}")
            if resp.status_code == 200:
                out: dict[str, Any] = resp.json()
                return out
            if time.monotonic() > end:
                raise SystemExit(
                    f"DAG {dag_id} not in Airflow at {self.url} after {timeout:.0f} s "
                    f"({resp.status_code}); is dags/{dag_id}.py in the stack's DAGs folder?"
                )
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        resp = self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        resp.raise_for_status()

    def turn_on(self, dag_id: str, timeout: float = 180) -> None:
        """Unpause ``dag_id`` once the dag-processor has parsed its file."""
        if self.dag(dag_id, timeout).get("is_paused"):
            self.unpause(dag_id)

    def task_ids(self, dag_id: str) -> list[str]:
        resp = self.request("GET", f"/api/v2/dags/{dag_id}/tasks")
        resp.raise_for_status()
        return [str(t["task_id"]) for t in resp.json()["tasks"]]

    # --- runs -----------------------------------------------------------------------------
    def trigger(self, dag_id: str, run_id: str) -> None:
        resp = self.request(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": None},
        )
        resp.raise_for_status()

    def run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        resp = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        out: dict[str, Any] = resp.json()
        return out

    def runs(self, dag_id: str, pattern: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id`` whose run id contains ``pattern``."""
        return self._pages(
            f"/api/v2/dags/{dag_id}/dagRuns", "dag_runs", {"run_id_pattern": pattern}
        )

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float, poll: float = 0.1
    ) -> dict[str, Any]:
        """The run once it has ended (success or failed)."""
        end = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run is not None and run.get("state") in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() > end:
                raise SystemExit(f"{dag_id} run {run_id} not ended after {timeout:.0f} s: {run}")
            time.sleep(poll)

    # --- task instances -------------------------------------------------------------------
    def task_instances(self, dag_id: str, run_id: str = "~", **params: Any) -> list[dict[str, Any]]:
        """Every task instance of a run (``~``: of every run), page by page."""
        return self._pages(
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='~')}/taskInstances",
            "task_instances",
            params,
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """A task's XCom value, deserialized; None when it has none."""
        resp = self.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
            f"/xcomEntries/{key}",
            params={"deserialize": True},
        )
        return resp.json().get("value") if resp.status_code == 200 else None

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a listing (the API answers at most 100 a page)."""
        out: list[dict[str, Any]] = []
        while True:
            resp = self.request("GET", path, params={**params, "limit": 100, "offset": len(out)})
            resp.raise_for_status()
            page = resp.json()[key]
            out.extend(page)
            if len(page) < 100:
                return out
