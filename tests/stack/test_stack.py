"""The stack supervisor against real processes, on free ports in a throwaway state dir.

One long scenario, because each step needs the previous one: up -> status -> GCS and BigQuery
emulators work -> a REST-triggered Airflow run succeeds -> ``kill -9`` of the supervisor
leaves no orphans -> up again on the same state dir keeps the data -> down leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from free_ports import free_ports
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

from cloudz.settings import Settings
from cloudz.stack.layout import Layout
from cloudz.stack.supervisor import owned_processes, read_pid, read_status

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

SMOKE_DAG_ID = "cloudz_stack_smoke"
SMOKE_DAG = f'''
import datetime

from airflow.sdk import dag, task


@dag(dag_id="{SMOKE_DAG_ID}", schedule=None, start_date=datetime.datetime(2024, 1, 1))
def smoke():
    @task
    def hello() -> str:
        return "ok"

    hello()


smoke()
'''


@dataclass(frozen=True)
class Stack:
    settings: Settings
    env: dict[str, str]
    dags_folder: Path

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cloudz.stack.cli", *args]
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def up(self) -> subprocess.CompletedProcess[str]:
        return self.cli("up", "--dags-folder", str(self.dags_folder), "--timeout", "180")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # not pytest's tmp_path: /tmp/pytest-of-root is 0700 and Postgres runs as nobody
    state_dir = Path(tempfile.mkdtemp(prefix="cloudz-stack-test-"))
    state_dir.chmod(0o755)
    dags = state_dir.parent / f"{state_dir.name}-dags"
    dags.mkdir()
    (dags / "smoke.py").write_text(SMOKE_DAG)
    ports = free_ports(10, runs=2)  # replica i serves metrics on +i
    env = {
        **os.environ,
        "CLOUDZ_STATE_DIR": str(state_dir),
        "CLOUDZ_POSTGRES_PORT": str(ports[0]),
        "CLOUDZ_GCS_PORT": str(ports[1]),
        "CLOUDZ_BIGQUERY_PORT": str(ports[2]),
        "CLOUDZ_BIGQUERY_GRPC_PORT": str(ports[3]),
        "CLOUDZ_AIRFLOW_PORT": str(ports[4]),
        "CLOUDZ_RECEIVER_PORT": str(ports[5]),
        "CLOUDZ_RECEIVER_METRICS_PORT": str(ports[6]),
        "CLOUDZ_STATSD_PORT": str(ports[8]),
        "CLOUDZ_STATSD_METRICS_PORT": str(ports[9]),
        "CLOUDZ_RECEIVER_REPLICAS": "2",
    }
    s = Stack(Settings.from_env(env), env, dags)
    try:
        yield s
    finally:
        s.cli("down", timeout=180)
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(dags, ignore_errors=True)


def _stack_processes(layout: Layout) -> list[psutil.Process]:
    """The supervisor and everything below it, plus anything else marked as ours."""
    pid = read_pid(layout.supervisor_pid)
    assert pid is not None
    sup = psutil.Process(pid)
    return [sup, *sup.children(recursive=True), *owned_processes(layout.state_dir)]


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    alive = procs
    while time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.5)
    return alive


def _gcs(settings: Settings) -> storage.Client:
    return storage.Client(
        project=settings.gcp_project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": settings.gcs_url},
    )


def _bq(settings: Settings) -> bigquery.Client:
    return bigquery.Client(
        project=settings.gcp_project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": settings.bigquery_url},
    )


def _trigger_smoke_dag(settings: Settings) -> str:
    """Trigger the throwaway DAG over REST as the receiver's user; return the final state."""
    with httpx.Client(base_url=settings.airflow_url, timeout=10) as client:
        token = client.post(
            "/auth/token",
            json={"username": settings.airflow_user, "password": settings.airflow_password},
        )
        assert token.status_code == 201, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        deadline = time.monotonic() + 60
        while client.get(f"/api/v2/dags/{SMOKE_DAG_ID}").status_code != 200:
            assert time.monotonic() < deadline, "the dag-processor never parsed the smoke DAG"
            time.sleep(1)
        run_id = f"smoke-{uuid.uuid4().hex[:8]}"
        created = client.post(
            f"/api/v2/dags/{SMOKE_DAG_ID}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": None, "conf": {}},
        )
        assert created.status_code == 200, created.text
        deadline = time.monotonic() + 90
        state = "queued"
        while state not in ("success", "failed") and time.monotonic() < deadline:
            time.sleep(1)
            state = client.get(f"/api/v2/dags/{SMOKE_DAG_ID}/dagRuns/{run_id}").json()["state"]
        return state


def test_up_refuses_a_busy_port(stack: Stack) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", stack.settings.gcs_port))
        busy.listen()
        result = stack.cli("up", "--without", "airflow", "--without", "receiver")
    assert result.returncode != 0
    assert f"port {stack.settings.gcs_port} (gcs) is already in use" in result.stderr
    assert read_pid(Layout.of(stack.settings).supervisor_pid) is None


def test_lifecycle(stack: Stack) -> None:
    settings, layout = stack.settings, Layout.of(stack.settings)

    t = time.monotonic()
    up = stack.up()
    assert up.returncode == 0, up.stdout + up.stderr
    fresh_seconds = time.monotonic() - t
    status = stack.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "NOT READY" not in status.stdout
    for name in (
        "postgres",
        "gcs",
        "bigquery",
        "statsd-bridge",
        "airflow-scheduler",
        "airflow-triggerer",
    ):
        assert name in status.stdout
    for sub in ("pgdata", "run", "logs", "gcs", "bigquery", "airflow"):
        assert (layout.state_dir / sub).is_dir()

    # a file round-trips through the GCS emulator, in the provisioned bucket
    payload = os.urandom(300_000)
    blob = _gcs(settings).bucket(settings.bucket).blob("smoke/object.bin")
    blob.upload_from_string(payload)
    assert blob.download_as_bytes() == payload

    # the BigQuery emulator answers queries and holds the provisioned dataset
    bq = _bq(settings)
    rows = list(bq.query("SELECT 40 + 2 AS answer").result())
    assert rows[0]["answer"] == 42
    bq.get_dataset(f"{settings.gcp_project}.{settings.dataset}")

    # executor, task SDK and JWT secret work together: a REST-triggered run succeeds
    assert _trigger_smoke_dag(settings) == "success"

    # a child that dies is restarted, and the status says so
    gcs_pid = read_pid(layout.pid_file("gcs"))
    assert gcs_pid is not None
    os.kill(gcs_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        comps = {c["name"]: c for c in (read_status(layout) or {}).get("components", [])}
        if comps["gcs"]["restarts"] == 1 and comps["gcs"]["state"] == "ready":
            break
        assert time.monotonic() < deadline, comps["gcs"]
        time.sleep(0.5)
    assert blob.download_as_bytes() == payload
    logs = stack.cli("logs", "gcs", "-n", "5")
    assert logs.returncode == 0 and logs.stdout.strip()

    # kill -9 of the supervisor: children die with it, the watchdog mops up the rest
    procs = _stack_processes(layout)
    supervisor = procs[0]
    supervisor.send_signal(signal.SIGKILL)
    alive = _wait_gone(procs[1:], timeout=60)
    assert not alive, [(p.pid, p.cmdline()) for p in alive]
    assert not owned_processes(layout.state_dir)
    assert stack.cli("status").returncode != 0

    # up again on the same state dir: the data is still there
    t = time.monotonic()
    up = stack.up()
    assert up.returncode == 0, up.stdout + up.stderr
    restart_seconds = time.monotonic() - t
    again = _gcs(settings).bucket(settings.bucket).blob("smoke/object.bin")
    assert again.download_as_bytes() == payload
    print(f"fresh start {fresh_seconds:.1f} s, restart {restart_seconds:.1f} s")

    # down stops everything and waits
    procs = _stack_processes(layout)
    down = stack.cli("down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not _wait_gone(procs, timeout=5)
    assert not owned_processes(layout.state_dir)
    assert not layout.supervisor_pid.exists()
    assert stack.cli("status").returncode != 0
    again_down = stack.cli("down")
    assert again_down.returncode == 0
    assert "nothing is running" in again_down.stdout
