"""The receiver's Airflow client against the production auth manager (FAB), not SimpleAuthManager.

docker-compose.yaml and the Helm values run ``FabAuthManager`` (users and roles in the
metadata database); the receiver logs in with ``POST /auth/token`` and a password, as it did
with SimpleAuthManager. Here a real api-server with the FAB auth manager runs on the embedded
PostgreSQL (a PostgreSQL of its own, on free loopback ports, in a temporary state dir), the
receiver's user is created with FAB's role ``User`` as ``airflow-init`` does, the per-file
DAG is serialized with ``airflow dags reserialize`` (no dag-processor, no scheduler), and
``ingest_service.airflow_runs.AirflowRuns`` triggers, reads, notes and lists a run. A wrong
password is refused.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from free_ports import free_ports

from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.stack import postgres
from cloudz.stack.layout import Layout
from ingest_service.airflow_runs import AirflowRejected, AirflowRuns

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
DAG_ID = "mrt_file"


def _airflow(env: dict[str, str], *args: str, log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, f"airflow {' '.join(args)} failed: {log.read_text()[-3000:]}"


@pytest.fixture(scope="module")
def fab_api() -> Iterator[tuple[str, str]]:
    """An api-server with the FAB auth manager; yields (base URL, the receiver's password)."""
    # postgres runs as nobody when the tests run as root: a state dir it can reach
    state = Path(tempfile.mkdtemp(prefix="cloudz-fab-", dir="/tmp"))
    state.chmod(0o755)
    pg_port, api_port = free_ports(2)
    settings = Settings(state_dir=state, postgres_port=pg_port)
    layout = Layout.of(settings)
    postgres.prepare_dirs(layout)
    postgres.initdb(layout, state / "initdb.log")
    pg_log = (state / "postgres.log").open("ab")
    pg = subprocess.Popen(
        postgres.server_command(settings),
        stdout=pg_log,
        stderr=subprocess.STDOUT,
        preexec_fn=postgres.drop_privileges(),
    )
    api: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(120):
            if postgres.is_ready(settings):
                break
            time.sleep(0.5)
        postgres.create_database(settings)
        url = postgres.sqlalchemy_url(settings)
        password = secrets.token_urlsafe(24)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(state / "airflow"),
            "AIRFLOW__CORE__AUTH_MANAGER": FAB,
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'include' / 'airflow_config'}",
        }
        log = state / "airflow.log"
        _airflow(env, "db", "migrate", log=log)
        # what airflow-init does with FAB: the receiver's user, role User (trigger and read runs)
        _airflow(
            env,
            "users",
            "create",
            "--username",
            "receiver",
            "--role",
            "User",
            "--password",
            password,
            "--firstname",
            "cloudz",
            "--lastname",
            "receiver",
            "--email",
            "receiver@cloudz.invalid",
            log=log,
        )
        _airflow(env, "dags", "reserialize", log=log)
        api_log = (state / "api-server.log").open("ab")
        api = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--workers", "1"],
            env=env,
            stdout=api_log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{api_port}"
        for _ in range(600):
            assert api.poll() is None, (state / "api-server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the api-server never answered: " + (state / "api-server.log").read_text())
        yield base, password
    finally:
        for process in (api, pg):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(state, ignore_errors=True)


def test_the_receivers_client_triggers_and_reads_runs_through_fab(
    fab_api: tuple[str, str],
) -> None:
    base, password = fab_api
    # FAB's own API is mounted (SimpleAuthManager has no such route: 404) and wants a login
    assert httpx.get(f"{base}/auth/fab/v1/roles", timeout=10).status_code in (401, 403)
    runs = AirflowRuns(base, dag_id=DAG_ID, username="receiver", password=password)
    try:
        since = datetime.now(UTC)
        run_id = f"fab-{secrets.token_hex(4)}"
        assert runs.trigger(run_id, {}) is True
        assert runs.trigger(run_id, {}) is False, "a second trigger is a 409, not a new run"
        snapshot = runs.snapshot(run_id, {})
        assert snapshot is not None and snapshot.run_id == run_id
        assert snapshot.state in {"queued", "running"}, "no scheduler runs here"
        runs.set_note(run_id, "partial: checked through FAB")
        again = runs.snapshot(run_id, {})
        assert again is not None and again.note == "partial: checked through FAB"
        assert runs.ended_since(since) == {}
        assert runs.snapshot("no-such-run", {}) is None
    finally:
        runs.close()


def test_a_wrong_password_is_refused(fab_api: tuple[str, str]) -> None:
    base, _ = fab_api
    runs = AirflowRuns(base, dag_id=DAG_ID, username="receiver", password="not-the-password")
    try:
        with pytest.raises(AirflowRejected, match="refused the receiver's credentials"):
            runs.trigger("never", {})
    finally:
        runs.close()
