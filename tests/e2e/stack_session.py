"""The embedded stack, started once per test session on free ports in a temp state dir.

Every test here talks to real processes: PostgreSQL, Airflow's four components,
fake-gcs-server, the BigQuery emulator and two receiver replicas, started by
the project's own ``cloudz-stack``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from archive_server import DEFAULT_COLLECTORS as ARCHIVE_COLLECTORS
from free_ports import stack_ports_env

from cloudz.cli.upload import call_metadata
from cloudz.settings import Settings
from cloudz.stack import readiness
from cloudz.stack.work_bucket import with_work_bucket

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Stack:
    settings: Settings
    env: dict[str, str]

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.settings.receiver_port}"

    @property
    def token(self) -> str:
        """The stack's own credential (every collector)."""
        return self.settings.local_token_file.read_text().strip()

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return call_metadata(self.token)

    def channel(
        self, target: str | None = None, options: list[tuple[str, int]] | None = None
    ) -> grpc.Channel:
        """A TLS channel to the receiver that trusts the stack's CA."""
        return readiness.receiver_channel(self.settings, target, options)

    def airflow(self) -> httpx.Client:
        """A client of Airflow's REST API, logged in as the admin; the caller closes it
        (``contextlib.closing``: httpx refuses ``with`` on a client that has sent a request)."""
        s = self.settings
        client = httpx.Client(base_url=s.airflow_url, timeout=30)
        token = client.post(
            "/auth/token", json={"username": "admin", "password": s.airflow_admin_password}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


def _stack_env(state_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        **stack_ports_env(state_dir),
        # an upload that stalls is cut off sooner than in production, so tests of it are short
        "CLOUDZ_RECEIVER_IDLE_SECONDS": "10",
        # Avro rows in 1 MiB parts (production: 64): every file over ~1 MiB of Avro (the big
        # RIBs of the tests) is uploaded in several parts and loaded through the wildcard
        "CLOUDZ_AVRO_PART_MB": "1",
        # what every ``upload-to-cloudz`` the tests run trusts and sends (made by ``up``)
        "CLOUDZ_CA_CERT": str(state_dir / "tls" / "ca.pem"),
        "CLOUDZ_TOKEN_FILE": str(state_dir / "local.token"),
    }
    # the mirror and backfill DAGs' configured source: the test collectors, with no files yet
    # (a test gives its runs another source in their conf); scheduled runs find nothing
    empty = state_dir / "empty-archive"
    for collector in ARCHIVE_COLLECTORS:
        top = "bgpdata" if collector == "route-views2" else f"{collector}/bgpdata"
        (empty / top).mkdir(parents=True, exist_ok=True)
    env["CLOUDZ_ARCHIVE_SOURCE"] = str(empty)
    env["CLOUDZ_ARCHIVE_COLLECTORS"] = ",".join(ARCHIVE_COLLECTORS)
    return env


def issue_token(stack: Stack, name: str, collector: str, token_file: Path) -> str:
    """Issue a credential for ``collector`` with the real ``cloudz-credentials``; its id."""
    out = stack.run(
        str(BIN / "cloudz-credentials"), "issue", "--name", name, "-c", collector,
        "--token-file", str(token_file),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[1]  # "issued <id> for …"


def upload_cli(
    stack: Stack,
    file: Path,
    archive_path: str,
    *extra: str,
    wait: int = 300,
    endpoint: str | None = None,
    token_file: Path | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run the real ``upload-to-cloudz``; its exit status and its JSON reply.

    It trusts the stack's CA and sends the stack's own credential unless given another.
    """
    proc = stack.run(
        str(BIN / "upload-to-cloudz"),
        "-f",
        str(file),
        "-d",
        endpoint or stack.endpoint,
        "--archive-path",
        archive_path,
        "--ca-cert",
        str(stack.settings.tls_ca_cert),
        "--token-file",
        str(token_file or stack.settings.local_token_file),
        "--json",
        "--wait",
        str(wait),
        *extra,
        timeout=wait + 100,
    )
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"no JSON from upload-to-cloudz (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


@contextlib.contextmanager
def started_stack(**settings: str) -> Iterator[Stack]:
    """A stack of its own (free ports, a temp state dir) with ``CLOUDZ_<NAME>`` settings on
    top of the tests' ones; stopped, and its state removed, at the end."""
    # not tmp_path: pytest's temp root is 0700, and PostgreSQL (run as nobody when the tests
    # run as root) must be able to reach its data directory
    state_dir = Path(tempfile.mkdtemp(prefix="cloudz-e2e-"))
    state_dir.chmod(0o755)
    env = _stack_env(state_dir)
    env.update({f"CLOUDZ_{name.upper()}": value for name, value in settings.items()})
    with_work_bucket(env)  # what ``cloudz-stack up`` sets: the tests read the same buckets
    s = Stack(settings=Settings.from_env(env), env=env)
    up = s.run(str(BIN / "cloudz-stack"), "up", timeout=900)
    if up.returncode != 0:
        s.run(str(BIN / "cloudz-stack"), "down", timeout=120)
        pytest.fail(f"cloudz-stack up failed:\n{up.stdout}\n{up.stderr}")
    # the tests' own clients talk to the same emulators
    saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST")}
    os.environ["STORAGE_EMULATOR_HOST"] = env["STORAGE_EMULATOR_HOST"]
    os.environ["BIGQUERY_EMULATOR_HOST"] = env["BIGQUERY_EMULATOR_HOST"]
    try:
        yield s
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        down = s.run(str(BIN / "cloudz-stack"), "down", timeout=300)
        print(down.stdout, down.stderr)
        if down.returncode == 0:
            shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The session's stack, with the default (Local) executor."""
    with started_stack() as s:
        yield s
