"""A manual run of the reconcile DAG through Airflow's REST API, as the tests make it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

DAG_ID = "mrt_reconcile"
#: hang guard only: nothing here is a performance expectation
GUARD_SECONDS = 900.0


def reconcile(api: httpx.Client, **conf: Any) -> dict[str, Any]:
    """Trigger a reconcile run with ``conf``, wait for it to succeed; its report (XCom)."""
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    reply = api.post(
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": None, "conf": conf},
    )
    assert reply.status_code == 200, reply.text

    def ended() -> str | None:
        state = str(api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"])
        return state if state in ("success", "failed") else None

    assert _wait(run_id, ended) == "success"
    xcom = api.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value",
        params={"deserialize": True},
    )
    assert xcom.status_code == 200, xcom.text
    report: dict[str, Any] = xcom.json()["value"]
    return report


def _wait(run_id: str, ended: Any) -> str:
    deadline = time.monotonic() + GUARD_SECONDS
    while (state := ended()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: reconcile run {run_id} not over within {GUARD_SECONDS} s")
        time.sleep(1)
    return str(state)
