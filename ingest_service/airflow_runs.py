"""Airflow's REST API (v2) as the receiver uses it: trigger a file's run, read it back.

Airflow's metadata DB is the only per-file state store; this client is the
receiver's only way to it. Transport errors are retried briefly (tenacity) and
then surface as ``AirflowUnavailable`` so the reply can say which stage failed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class AirflowUnavailable(RuntimeError):
    """Airflow could not be reached or answered with a server error.

    ``maybe_done``: the request may have reached Airflow (a timeout or lost connection after
    sending, a 5xx), so what it asked for may have happened; False when it never connected.
    """

    def __init__(self, message: str, *, maybe_done: bool = True, soon: bool = False) -> None:
        super().__init__(message)
        self.maybe_done = maybe_done
        #: worth asking again within the call (e.g. the DAG is not parsed yet after a start)
        self.soon = soon


class AirflowRejected(RuntimeError):
    """Airflow refused a request (bad credentials, unknown DAG, invalid body)."""


@dataclass(frozen=True)
class TaskState:
    task_id: str
    state: str | None
    try_number: int


@dataclass(frozen=True)
class RunSnapshot:
    """One read of a run: its state, its tasks' states and the XComs the reply needs."""

    run_id: str
    state: str
    note: str | None = None
    tasks: dict[str, TaskState] = field(default_factory=dict)
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL_RUN_STATES


_retry_transport = retry(
    retry=retry_if_exception_type(httpx.TransportError),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.2, max=2),
    reraise=True,
)


class AirflowRuns:
    """Trigger and read DAG runs of one DAG with a bearer token from ``/auth/token``."""

    def __init__(
        self,
        base_url: str,
        *,
        dag_id: str,
        username: str,
        password: str,
        timeout: float = 10.0,
        max_concurrent: int = 4,
    ) -> None:
        """``max_concurrent`` bounds this replica's requests in flight: a burst of uploads
        queues here instead of exhausting the api-server's database connections."""
        self._dag_id = dag_id
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._credentials = {"username": username, "password": password}
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._client = httpx.Client(base_url=self._base_url, timeout=timeout)
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._local = threading.local()

    @contextlib.contextmanager
    def within(self, deadline: float | None) -> Iterator[None]:
        """Bound this thread's requests by ``deadline`` (``time.monotonic()``): waiting for
        a request slot, each try's timeout and the retries all stop there, so a reply is
        never later than the call it answers."""
        outer = getattr(self._local, "deadline", None)
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = outer

    def _remaining(self) -> float | None:
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise AirflowUnavailable("no time left before the call's deadline", maybe_done=False)
        return left

    def close(self) -> None:
        self._client.close()

    def run_url(self, run_id: str) -> str:
        """The run's page in the Airflow UI."""
        return f"{self._base_url}/dags/{self._dag_id}/runs/{quote(run_id, safe='')}"

    # --- requests ---------------------------------------------------------
    @_retry_transport
    def _fetch_token(self) -> str:
        left = self._remaining()
        timeout = self._timeout if left is None else min(self._timeout, left)
        resp = self._client.post("/auth/token", json=self._credentials, timeout=timeout)
        if resp.status_code >= 500:
            raise AirflowUnavailable(f"Airflow /auth/token answered {resp.status_code}")
        if resp.status_code not in (200, 201):
            raise AirflowRejected(
                f"Airflow refused the receiver's credentials ({resp.status_code})"
            )
        return str(resp.json()["access_token"])

    def _auth_header(self, renew: bool = False) -> dict[str, str]:
        with self._token_lock:
            if self._token is None or renew:
                self._token = self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}

    @_retry_transport
    def _send(self, method: str, path: str, sent: list[bool], **kwargs: Any) -> httpx.Response:
        """One try; ``sent`` becomes ``[True]`` once any try may have reached Airflow."""
        left = self._remaining()
        if left is not None:
            kwargs["timeout"] = min(self._timeout, left)
        try:
            resp = self._client.request(method, path, headers=self._auth_header(), **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise
        except httpx.TransportError:
            sent[:] = [True]
            raise
        if resp.status_code == 401:  # token expired (24 h) or the api-server restarted
            resp = self._client.request(
                method, path, headers=self._auth_header(renew=True), **kwargs
            )
        if resp.status_code >= 500:
            sent[:] = [True]
            raise AirflowUnavailable(f"Airflow {method} {path} answered {resp.status_code}")
        return resp

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        sent = [False]
        left = self._remaining()
        if not self._slots.acquire(timeout=left):
            raise AirflowUnavailable(
                "every request slot to Airflow stayed busy until the call's deadline",
                maybe_done=False,
            )
        try:
            return self._send(method, path, sent, **kwargs)
        except httpx.TransportError as exc:
            raise AirflowUnavailable(
                f"Airflow at {self._base_url} unreachable: {exc}", maybe_done=sent[0]
            ) from exc
        except AirflowUnavailable as exc:
            exc.maybe_done = sent[0]
            raise
        finally:
            self._slots.release()

    def _run_path(self, run_id: str) -> str:
        return f"/api/v2/dags/{self._dag_id}/dagRuns/{quote(run_id, safe='')}"

    # --- the receiver's operations -----------------------------------------
    def trigger(self, run_id: str, conf: dict[str, Any]) -> bool:
        """Create the run; ``False`` when it already existed (409), which is fine."""
        resp = self._request(
            "POST",
            f"/api/v2/dags/{self._dag_id}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": None, "conf": conf},
        )
        if resp.status_code == 409:
            return False
        if resp.status_code == 404:
            # a freshly started Airflow whose dag-processor has not registered the DAG yet
            raise AirflowUnavailable(
                f"Airflow does not know the DAG {self._dag_id} (yet): {resp.text[:200]}",
                maybe_done=False,
                soon=True,
            )
        if resp.status_code not in (200, 201):
            raise AirflowRejected(
                f"Airflow refused to trigger {run_id}: {resp.status_code} {resp.text[:300]}"
            )
        return True

    def snapshot(self, run_id: str, xcom_keys: dict[str, tuple[str, ...]]) -> RunSnapshot | None:
        """Read the run, its task instances and the named XComs; ``None`` if no such run.

        ``xcom_keys`` maps a task id to the keys to read from it once it has run: the
        ``return_value`` of a task that succeeded, any other key of one that failed or waits
        for a retry (so a read costs no request for an XCom that cannot exist).
        """
        path = self._run_path(run_id)
        resp = self._request("GET", path)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise AirflowRejected(f"Airflow GET run {run_id}: {resp.status_code}")
        state = str(resp.json().get("state") or "queued")
        note = resp.json().get("note")
        resp = self._request("GET", f"{path}/taskInstances")
        if resp.status_code != 200:
            raise AirflowRejected(f"Airflow GET task instances of {run_id}: {resp.status_code}")
        tasks = {
            ti["task_id"]: TaskState(ti["task_id"], ti.get("state"), int(ti.get("try_number") or 0))
            for ti in resp.json().get("task_instances", [])
        }
        xcoms: dict[tuple[str, str], Any] = {}
        for task_id, keys in xcom_keys.items():
            ti = tasks.get(task_id)
            if ti is None or ti.state not in ("success", "failed", "up_for_retry"):
                continue
            for key in keys:
                if (key == "return_value") != (ti.state == "success"):
                    continue
                resp = self._request(
                    "GET",
                    f"{path}/taskInstances/{task_id}/xcomEntries/{key}",
                    params={"deserialize": "true"},
                )
                if resp.status_code == 200:
                    xcoms[(task_id, key)] = resp.json().get("value")
        return RunSnapshot(run_id=run_id, state=state, note=note, tasks=tasks, xcoms=xcoms)

    def ended_since(self, since: datetime, page: int = 100) -> dict[str, str]:
        """``{run id: state}`` of the runs of the DAG that ended at or after ``since``.

        One request per ``page`` runs, whatever the number of uploads waiting: the
        receiver's watcher calls this instead of every upload polling its own run.
        """
        ended: dict[str, str] = {}
        offset = 0
        while True:
            resp = self._request(
                "GET",
                f"/api/v2/dags/{self._dag_id}/dagRuns",
                params={
                    "end_date_gte": since.isoformat(),
                    "state": ["success", "failed"],
                    "order_by": "end_date",
                    "limit": page,
                    "offset": offset,
                },
            )
            if resp.status_code != 200:
                raise AirflowRejected(f"Airflow GET dagRuns: {resp.status_code} {resp.text[:300]}")
            body = resp.json()
            runs = body.get("dag_runs", [])
            ended.update({str(r["dag_run_id"]): str(r["state"]) for r in runs})
            offset += len(runs)
            if not runs or offset >= int(body.get("total_entries", 0)):
                return ended

    def ended_among(self, run_ids: Iterable[str], chunk: int = 100) -> dict[str, str]:
        """``{run id: state}`` of those of ``run_ids`` that have ended (success or failed).

        Asked by run id (``run_id_prefix_pattern``, terms joined by ``|``), which Airflow
        turns into range scans of the ``(dag_id, run_id)`` unique index, so the answer does
        not grow with the runs the table holds; a listing by ``end_date`` reads every run of
        the DAG (``dag_run`` has no index on it; bench/year_of_runs.py). A prefix may match a
        few longer ids: only exact ones count (and a full page is followed by the next).
        """
        wanted = sorted(set(run_ids))
        ended: dict[str, str] = {}
        page = 100  # the api-server's largest page
        for lo in range(0, len(wanted), chunk):
            part = wanted[lo : lo + chunk]
            asked, offset = set(part), 0
            while True:
                resp = self._request(
                    "GET",
                    f"/api/v2/dags/{self._dag_id}/dagRuns",
                    params={
                        "run_id_prefix_pattern": "|".join(part),
                        "state": ["success", "failed"],
                        "order_by": "run_id",
                        "limit": page,
                        "offset": offset,
                    },
                )
                if resp.status_code != 200:
                    raise AirflowRejected(
                        f"Airflow GET dagRuns: {resp.status_code} {resp.text[:300]}"
                    )
                runs = resp.json().get("dag_runs", [])
                for r in runs:
                    if r["dag_run_id"] in asked:
                        ended[str(r["dag_run_id"])] = str(r["state"])
                offset += len(runs)
                if len(runs) < page:
                    break
        return ended

    def set_note(self, run_id: str, note: str) -> None:
        """Write the run's note, which the Airflow UI shows on the run (e.g. "partial: …")."""
        resp = self._request("PATCH", self._run_path(run_id), json={"note": note})
        if resp.status_code != 200:
            raise AirflowRejected(f"Airflow PATCH note of {run_id}: {resp.status_code}")
