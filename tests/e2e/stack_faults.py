"""What the fault tests share: files with known rows, the stack's supervised processes (to
freeze, kill and see served again), the bucket, the warehouse's job ledger, Airflow from
the outside and ``upload-to-cloudz`` in the background."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from stack_session import BIN, Stack

from cloudz.archive.store import CLAIM_PREFIX, STAGING_PREFIX
from cloudz.mrtgen import RibSpec, generate_rib, write_file
from cloudz.stack import readiness
from cloudz.stack.layout import Layout
from cloudz.stack.supervisor import read_status
from cloudz.warehouse.clients import bigquery_client, count_file_rows, storage_client

MiB = 1024 * 1024
#: hang guards only: nothing here is a performance expectation
GUARD_SECONDS = 600.0
#: how long an upload in these tests may wait for its run (the CLI's --wait)
WAIT_SECONDS = 900


# --- files ---------------------------------------------------------------------
@dataclass(frozen=True)
class MrtFile:
    path: Path
    rows: int  # what the converter makes of it (mrtgen knows)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def rib_file(directory: Path, name: str, prefixes: int, seed: int) -> MrtFile:
    """An uncompressed TABLE_DUMP_V2 RIB (~2.6 KB per prefix): big in bytes, exact in rows."""
    path = directory / name
    # dated as its name says: rows outside a day either side of the name are not loaded
    named = datetime.strptime(name.split(".", 1)[1][:13], "%Y%m%d.%H%M").replace(tzinfo=UTC)
    spec = RibSpec(prefixes=prefixes, seed=seed, timestamp=int(named.timestamp()))
    written = write_file(path, generate_rib(spec), "raw")
    return MrtFile(path, written.rows)


def small_rib(tmp_path: Path, seed: int) -> MrtFile:
    """~12 MB (~111k rows): a load job that runs for seconds in the emulator; named (and so
    dated) ``seed`` minutes after 2026-11-01 00:00 (``seed`` < 1440: a time of that day)."""
    if not 0 <= seed < 24 * 60:
        raise ValueError(f"seed {seed}: not a minute of a day")
    return rib_file(tmp_path, f"rib.20261101.{seed // 60:02d}{seed % 60:02d}", 5_000, seed=seed)


# --- the stack's processes -------------------------------------------------------
def component_status(stack: Stack, name: str) -> dict[str, Any]:
    status = read_status(Layout.of(stack.settings))
    assert status is not None, "no run/status.json: is the supervisor running?"
    (component,) = (c for c in status["components"] if c["name"] == name)
    return dict(component)


def component_process(stack: Stack, name: str) -> psutil.Process:
    """The live process of a supervised component, as its pid file and status record it."""
    pid_text, created = Layout.of(stack.settings).pid_file(name).read_text().split()
    proc = psutil.Process(int(pid_text))
    assert abs(proc.create_time() - float(created)) < 1.0, f"{name}: pid {pid_text} was reused"
    assert component_status(stack, name)["pid"] == proc.pid
    return proc


def component_probe(stack: Stack, name: str) -> Callable[[], bool]:
    probes: dict[str, Callable[[], bool]] = {
        "gcs": lambda: readiness.gcs_ready(stack.settings),
        "bigquery": lambda: readiness.bigquery_ready(stack.settings),
    }
    return probes[name]


def is_serving(stack: Stack, name: str) -> bool:
    """The supervisor says ready, the process it names is alive, and the probe answers."""
    component = component_status(stack, name)
    try:
        alive = psutil.Process(component["pid"]).status() not in (
            psutil.STATUS_ZOMBIE,
            psutil.STATUS_DEAD,
            psutil.STATUS_STOPPED,
        )
    except (psutil.Error, TypeError):
        alive = False
    return bool(component["state"] == "ready" and alive and component_probe(stack, name)())


def wait_for(what: str, done: Callable[[], bool], timeout: float = GUARD_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {what} not within {timeout:.0f} s")
        time.sleep(0.2)


@contextlib.contextmanager
def supervised(stack: Stack, name: str) -> Iterator[psutil.Process]:
    """The component's process, for the test to freeze and kill; serving again afterwards.

    Whatever happens in the test, the session's component is not left frozen, and the block
    ends only when the supervisor has it ready again (a restarted one has a new pid).
    """
    proc = component_process(stack, name)
    try:
        yield proc
    finally:
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_STOPPED:
                proc.resume()
        wait_for(f"{name} serving again", lambda: is_serving(stack, name))
    if not proc.is_running():  # killed: restarted by the supervisor, as after a crash
        after = component_status(stack, name)
        assert after["pid"] != proc.pid and after["restarts"] >= 1, after


def freeze(proc: psutil.Process) -> None:
    proc.suspend()  # SIGSTOP: it holds its sockets but answers nothing


def kill(proc: psutil.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)  # the supervisor reaps it; wait() returns once it is gone


# --- what the receiver counted ----------------------------------------------------
class ReceivedBytes:
    """``cloudz_upload_bytes_received_total`` summed over replicas, read as fast as it can be
    (one scan of the text, one kept-alive connection per port): tests poll it in a tight loop."""

    SAMPLE = "cloudz_upload_bytes_received_total "

    def __init__(self, ports: list[int]) -> None:
        self.urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]
        self.client = httpx.Client(timeout=10)

    def __call__(self) -> float:
        total = 0.0
        for url in self.urls:
            for line in self.client.get(url).text.splitlines():
                if line.startswith(self.SAMPLE):
                    total += float(line.split()[1])
        return total

    @classmethod
    def of_stack(cls, stack: Stack) -> ReceivedBytes:
        s = stack.settings
        return cls([s.receiver_metrics_port + i for i in range(s.receiver_replicas)])


# --- the bucket --------------------------------------------------------------------
def archive_bucket(stack: Stack) -> Any:
    return storage_client(stack.settings).bucket(stack.settings.bucket)


def working_bucket(stack: Stack) -> Any:
    """The private bucket of staging objects and claims (the stack's second bucket)."""
    return storage_client(stack.settings).bucket(stack.settings.working_bucket)


def staging_objects(stack: Stack) -> set[str]:
    return {b.name for b in working_bucket(stack).list_blobs(prefix=STAGING_PREFIX)}


def assert_nothing_half_stored(stack: Stack, path: str, rib: MrtFile, staging: set[str]) -> None:
    """The path holds nothing or the whole file; no claim and no new staging object is left."""
    bucket = archive_bucket(stack)
    blob = bucket.get_blob(path)
    if blob is not None:
        assert blob.size == rib.size, f"{path} holds {blob.size} of {rib.size} bytes"
        assert blob.metadata["sha256"] == rib.sha256
        assert hashlib.sha256(blob.download_as_bytes()).hexdigest() == rib.sha256
    assert working_bucket(stack).get_blob(f"{CLAIM_PREFIX}{path}") is None, "a claim was left"
    # a writer killed after its staging object was complete would leave one here (GCS
    # deletes them after a day by the bucket's lifecycle rule; fake-gcs-server ignores the
    # rule): none of these faults may, since no staging object of theirs was ever complete
    assert staging_objects(stack) - staging == set()


# --- the warehouse -------------------------------------------------------------------
def load_jobs(stack: Stack, path: str, sha256: str) -> list[Any]:
    """The load jobs of one file version (their ids are a deterministic sequence)."""
    from cloudz.file_pipeline.load_step import job_id_base

    base = job_id_base(stack.settings.table_ref, path, sha256) + "_"
    bq = bigquery_client(stack.settings)
    return [
        j for j in bq.list_jobs(project=stack.settings.gcp_project) if j.job_id.startswith(base)
    ]


def file_rows(stack: Stack, path: str) -> int:
    return count_file_rows(bigquery_client(stack.settings), stack.settings, path)


def assert_loaded_once(stack: Stack, path: str, rib: MrtFile, reply: dict[str, Any]) -> None:
    assert reply["outcome"] == "OUTCOME_SUCCEEDED", json.dumps(reply, indent=2)
    assert int(reply["conversion"]["rows"]) == rib.rows
    assert int(reply["load"]["rowsLoaded"]) == rib.rows
    assert file_rows(stack, path) == rib.rows
    # the job ledger: one successful load of the file, whatever failed or was retried
    jobs = load_jobs(stack, path, rib.sha256)
    good = [j for j in jobs if j.state == "DONE" and j.error_result is None]
    assert len(good) == 1, [(j.job_id, j.state, j.error_result, j.output_rows) for j in jobs]
    assert good[0].output_rows == rib.rows


# --- Airflow, from the outside ---------------------------------------------------------
class Airflow:
    def __init__(self, stack: Stack) -> None:
        self.client = stack.airflow()

    def task(self, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The task instance, or None while the run does not exist."""
        reply = self.client.get(f"/api/v2/dags/mrt_file/dagRuns/{run_id}/taskInstances/{task_id}")
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        return dict(reply.json())

    def task_state(self, run_id: str, task_id: str) -> str | None:
        ti = self.task(run_id, task_id)
        return None if ti is None else ti["state"]


#: task states once a try has begun
STARTED = {"running", "up_for_retry", "success", "failed"}


# --- the CLI in the background ----------------------------------------------------------
def start_upload(stack: Stack, rib: MrtFile, archive_path: str) -> subprocess.Popen[str]:
    """``upload-to-cloudz`` as ``upload_cli`` runs it, but not waited for."""
    return subprocess.Popen(
        [str(BIN / "upload-to-cloudz"), "-f", str(rib.path), "-d", stack.endpoint,
         "--archive-path", archive_path, "--ca-cert", str(stack.settings.tls_ca_cert),
         "--token-file", str(stack.settings.local_token_file), "--json",
         "--wait", str(WAIT_SECONDS)],
        env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@contextlib.contextmanager
def background_upload(
    stack: Stack, rib: MrtFile, archive_path: str
) -> Iterator[tuple[subprocess.Popen[str], Callable[[], tuple[int, dict[str, Any], str]]]]:
    """The running CLI and a function that waits for its exit status, JSON reply and stderr."""
    proc = start_upload(stack, rib, archive_path)

    def outcome() -> tuple[int, dict[str, Any], str]:
        out, err = proc.communicate(timeout=WAIT_SECONDS + 100)
        try:
            return proc.returncode, json.loads(out), err
        except json.JSONDecodeError:
            pytest.fail(f"no JSON from upload-to-cloudz (exit {proc.returncode}):\n{out}\n{err}")

    try:
        yield proc, outcome
    finally:
        if proc.poll() is None:  # a test that failed early: do not leave the CLI waiting
            proc.kill()
            proc.communicate()
