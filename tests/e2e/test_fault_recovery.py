"""Faults that must heal without loss (issue 9): a receiver replica killed mid-stream, the
object store killed during an upload, the BigQuery emulator killed around a load, the object
store hung while BigQuery reads from it.

Every fault is real: a ``SIGKILL`` of a real process of the session stack (or of a replica
started for the test), which the stack's supervisor restarts as it would after a crash
(``cloudz/stack/supervisor.py``: the child's pid is in ``run/<component>.pid``, its state in
``run/status.json``), or a ``SIGSTOP`` that leaves a server holding its connections without
answering. To hit a given moment without guessing at timings, a server is frozen at a point
the test observes (bytes counted by the receiver, a task state in Airflow, a job in the
emulator), then killed or resumed. Each test asserts what the client was told, that nothing
half-written is at the archive path, and that after recovery the table holds each row of
the file exactly once (one successful job in the file's load-job ledger). Every test leaves
the component it broke serving.

The emulator killed while it runs a load job used to come back reporting that job RUNNING
for ever (local-bigquery keeps its jobs in a file), so the load task waited on it until its
timeout, three times; ``scripts/bigquery-emulator-serve`` now ends such jobs with a
``backendError`` before the emulator serves again, as BigQuery ends a job whose worker died.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
import pytest
from extra_replica import extra_replica
from google.cloud import bigquery
from stack_session import BIN, Stack, upload_cli

from cloudz import archive_path as paths
from cloudz import schema
from cloudz.archive_store import CLAIM_PREFIX, STAGING_PREFIX, UPLOAD_CHUNK_BYTES
from cloudz.cloud_clients import bigquery_client, count_file_rows, storage_client
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.ingest.v1 import ingest_pb2_grpc as pb_grpc
from cloudz.mrtgen import RibSpec, generate_rib, write_file
from cloudz.stack import readiness
from cloudz.stack.layout import Layout
from cloudz.stack.provision import LEFTOVER_PREFIXES
from cloudz.stack.supervisor import read_status

pytestmark = pytest.mark.stack

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


def _rib(directory: Path, name: str, prefixes: int, seed: int) -> MrtFile:
    """An uncompressed TABLE_DUMP_V2 RIB (~2.6 KB per prefix): big in bytes, exact in rows."""
    path = directory / name
    written = write_file(path, generate_rib(RibSpec(prefixes=prefixes, seed=seed)), "raw")
    return MrtFile(path, written.rows)


@pytest.fixture(scope="module")
def big_rib(tmp_path_factory: pytest.TempPathFactory) -> MrtFile:
    """~39 MB: many of the receiver's staging chunks (~333k rows)."""
    rib = _rib(tmp_path_factory.mktemp("faults"), "rib.20261101.0000", 15_000, seed=91)
    assert rib.size > 4 * UPLOAD_CHUNK_BYTES
    return rib


def _small_rib(tmp_path: Path, seed: int) -> MrtFile:
    """~12 MB (~111k rows): a load job that runs for seconds in the emulator."""
    return _rib(tmp_path, f"rib.20261101.{seed:04d}", 5_000, seed=seed)


# --- the stack's processes -------------------------------------------------------
def _status(stack: Stack, name: str) -> dict[str, Any]:
    status = read_status(Layout.of(stack.settings))
    assert status is not None, "no run/status.json: is the supervisor running?"
    (component,) = (c for c in status["components"] if c["name"] == name)
    return dict(component)


def _process(stack: Stack, name: str) -> psutil.Process:
    """The live process of a supervised component, as its pid file and status record it."""
    pid_text, created = Layout.of(stack.settings).pid_file(name).read_text().split()
    proc = psutil.Process(int(pid_text))
    assert abs(proc.create_time() - float(created)) < 1.0, f"{name}: pid {pid_text} was reused"
    assert _status(stack, name)["pid"] == proc.pid
    return proc


def _probe(stack: Stack, name: str) -> Callable[[], bool]:
    probes: dict[str, Callable[[], bool]] = {
        "gcs": lambda: readiness.gcs_ready(stack.settings),
        "bigquery": lambda: readiness.bigquery_ready(stack.settings),
    }
    return probes[name]


def _serving(stack: Stack, name: str) -> bool:
    """The supervisor says ready, the process it names is alive, and the probe answers."""
    component = _status(stack, name)
    try:
        alive = psutil.Process(component["pid"]).status() not in (
            psutil.STATUS_ZOMBIE,
            psutil.STATUS_DEAD,
            psutil.STATUS_STOPPED,
        )
    except (psutil.Error, TypeError):
        alive = False
    return bool(component["state"] == "ready" and alive and _probe(stack, name)())


def _wait_for(what: str, done: Callable[[], bool], timeout: float = GUARD_SECONDS) -> None:
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
    proc = _process(stack, name)
    try:
        yield proc
    finally:
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_STOPPED:
                proc.resume()
        _wait_for(f"{name} serving again", lambda: _serving(stack, name))
    if not proc.is_running():  # killed: restarted by the supervisor, as after a crash
        after = _status(stack, name)
        assert after["pid"] != proc.pid and after["restarts"] >= 1, after


def _freeze(proc: psutil.Process) -> None:
    proc.suspend()  # SIGSTOP: it holds its sockets but answers nothing


def _kill(proc: psutil.Process) -> None:
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
def _bucket(stack: Stack) -> Any:
    return storage_client(stack.settings).bucket(stack.settings.bucket)


def _staging(stack: Stack) -> set[str]:
    return {b.name for b in _bucket(stack).list_blobs(prefix=STAGING_PREFIX)}


def _assert_nothing_half_stored(stack: Stack, path: str, rib: MrtFile, staging: set[str]) -> None:
    """The path holds nothing or the whole file; no claim and no new staging object is left."""
    bucket = _bucket(stack)
    blob = bucket.get_blob(path)
    if blob is not None:
        assert blob.size == rib.size, f"{path} holds {blob.size} of {rib.size} bytes"
        assert blob.metadata["sha256"] == rib.sha256
        assert hashlib.sha256(blob.download_as_bytes()).hexdigest() == rib.sha256
    assert bucket.get_blob(f"{CLAIM_PREFIX}{path}") is None, "a claim was left behind"
    # a writer killed after its staging object was complete would leave one here (GCS
    # deletes them after a day by the bucket's lifecycle rule; fake-gcs-server ignores the
    # rule): none of these faults may, since no staging object of theirs was ever complete
    assert _staging(stack) - staging == set()


# --- the warehouse -------------------------------------------------------------------
def _load_jobs(stack: Stack, path: str, sha256: str) -> list[Any]:
    """The load jobs of one file version (their ids are a deterministic sequence)."""
    from cloudz.file_pipeline.load_step import job_id_base

    base = job_id_base(stack.settings.table_ref, path, sha256) + "_"
    bq = bigquery_client(stack.settings)
    return [
        j for j in bq.list_jobs(project=stack.settings.gcp_project) if j.job_id.startswith(base)
    ]


def _rows(stack: Stack, path: str) -> int:
    return count_file_rows(bigquery_client(stack.settings), stack.settings, path)


def _assert_loaded_once(stack: Stack, path: str, rib: MrtFile, reply: dict[str, Any]) -> None:
    assert reply["outcome"] == "OUTCOME_SUCCEEDED", json.dumps(reply, indent=2)
    assert int(reply["conversion"]["rows"]) == rib.rows
    assert int(reply["load"]["rowsLoaded"]) == rib.rows
    assert _rows(stack, path) == rib.rows
    # the job ledger: one successful load of the file, whatever failed or was retried
    jobs = _load_jobs(stack, path, rib.sha256)
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


@pytest.fixture
def airflow(stack: Stack) -> Iterator[Airflow]:
    a = Airflow(stack)
    yield a
    a.client.close()


#: task states once a try has begun
STARTED = {"running", "up_for_retry", "success", "failed"}


# --- the CLI in the background ----------------------------------------------------------
def _start_upload(stack: Stack, rib: MrtFile, archive_path: str) -> subprocess.Popen[str]:
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
    proc = _start_upload(stack, rib, archive_path)

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


# --- 1. a replica killed mid-stream ---------------------------------------------------------
def test_replica_killed_mid_stream_stores_nothing_and_the_file_goes_in_again(
    stack: Stack, big_rib: MrtFile
) -> None:
    """The replica dies with 10 MiB of the file received (part of it already written to its
    staging object); the client gets UNAVAILABLE; the path stays empty; the CLI then uploads
    the same file through the shared port and every row arrives once."""
    path = "fault-replica/bgpdata/2026.11/RIBS/killed-mid-stream"
    data = big_rib.path.read_bytes()
    cut = 10 * MiB  # past the first staging chunk, well before the end
    assert UPLOAD_CHUNK_BYTES < cut < len(data)
    staging = _staging(stack)
    header = pb.FileHeader(archive_path=path, sha256=big_rib.sha256, size=len(data))
    killed = threading.Event()

    def requests() -> Iterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=header)
        for offset in range(0, len(data), MiB):
            if offset == cut:
                killed.wait(GUARD_SECONDS)  # the rest only once the replica is dead
            yield pb.UploadRequest(chunk=data[offset : offset + MiB])

    with extra_replica(stack) as replica, replica.channel() as channel:
        received = ReceivedBytes([replica.metrics_port])
        before = received()
        call = pb_grpc.IngestServiceStub(channel).Upload.future(
            requests(), timeout=GUARD_SECONDS, metadata=stack.metadata
        )
        try:
            _wait_for(
                "10 MiB at the replica",
                lambda: call.done() or received() - before >= cut,
            )
            assert not call.done(), call.exception() or call.result()
            replica.proc.kill()  # SIGKILL, bytes in flight
            replica.proc.wait(timeout=30)
        finally:
            killed.set()
        err = call.exception(timeout=GUARD_SECONDS)

    assert isinstance(err, grpc.RpcError), "the upload to a killed replica was answered"
    assert err.code() == grpc.StatusCode.UNAVAILABLE, (err.code(), err.details())
    assert _bucket(stack).get_blob(path) is None
    _assert_nothing_half_stored(stack, path, big_rib, staging)
    # a replica killed after its staging object was complete (before publishing) would leave
    # it: in GCS the bucket's lifecycle rule deletes what is under this prefix after a day
    assert STAGING_PREFIX in LEFTOVER_PREFIXES

    code, reply = upload_cli(stack, big_rib.path, path, wait=WAIT_SECONDS)

    assert code == 0, json.dumps(reply, indent=2)
    assert reply["archive"]["result"] == "ARCHIVE_RESULT_STORED"
    _assert_nothing_half_stored(stack, path, big_rib, staging)
    _assert_loaded_once(stack, path, big_rib, reply)


# --- 2. the object store killed during an upload --------------------------------------------
def test_object_store_killed_during_an_upload_heals_by_retry(
    stack: Stack, big_rib: MrtFile
) -> None:
    """fake-gcs-server is frozen once the receiver has written a staging chunk to it, then
    killed by the time the receiver comes to its next write (the resumable upload session
    dies with it); the supervisor restarts it. The CLI's answer must be the truth: SUCCEEDED
    (it or the receiver tried again) or exit 6 with nothing archived; the path never holds
    part of the file. After recovery the same upload gives SUCCEEDED with every row once.

    The freeze must come before the last byte reaches the receiver for the kill to be
    mid-stream; a scheduler that delays this test past that point only costs another try.
    """
    received = ReceivedBytes.of_stack(stack)
    size = big_rib.size
    staging = _staging(stack)
    mid_stream = False
    outcomes = []
    for attempt in range(3):
        path = f"fault-gcs/bgpdata/2026.11/RIBS/killed-during-upload-{attempt}"
        with (
            supervised(stack, "gcs") as gcs,
            background_upload(stack, big_rib, path) as (
                cli,
                outcome,
            ),
        ):
            before = received()
            deadline = time.monotonic() + GUARD_SECONDS
            # tight loop: the whole file streams in well under a second on a quiet machine
            while (got := received() - before) <= UPLOAD_CHUNK_BYTES:
                assert cli.poll() is None, "the upload ended before it was seen streaming"
                assert time.monotonic() < deadline, "hang guard: the upload never streamed"
            _freeze(gcs)
            mid_stream = got < size
            if mid_stream:
                # the receiver writes to the store at each chunk boundary (and at the end):
                # once it has read up to the next one it waits on the frozen store (or, if
                # it was on a boundary already, it is past it and will meet the killed one)
                next_write = min(-(-int(got) // UPLOAD_CHUNK_BYTES) * UPLOAD_CHUNK_BYTES, size)
                _wait_for(
                    "the receiver's next staging write",
                    lambda: received() - before >= next_write,  # noqa: B023
                )
            _kill(gcs)
            code, reply, stderr = outcome()
        outcomes.append((attempt, got, code, reply.get("outcome") or reply.get("error")))
        print(f"attempt {attempt}: store frozen at {got:.0f} of {size} bytes, exit {code}")
        print(stderr)

        # the truth, whichever it is: stored and loaded, or refused with nothing stored
        assert code in (0, 6), (code, json.dumps(reply, indent=2), stderr)
        if code == 6:
            assert reply["error"]["code"] == "UNAVAILABLE", reply
            assert "nothing was archived" in reply["error"]["message"], reply
            assert _bucket(stack).get_blob(path) is None
        _assert_nothing_half_stored(stack, path, big_rib, staging)
        if code == 0:
            assert reply["archive"]["result"] == "ARCHIVE_RESULT_STORED", reply
            _assert_loaded_once(stack, path, big_rib, reply)

        # the store is back: the same upload succeeds, stored now or already archived
        first = code
        code, again = upload_cli(stack, big_rib.path, path, wait=WAIT_SECONDS)
        assert code == 0, json.dumps(again, indent=2)
        if first == 0:
            assert again["archive"]["result"] == "ARCHIVE_RESULT_ALREADY_ARCHIVED", again
            assert again["runId"] == reply["runId"]
        else:
            assert again["archive"]["result"] == "ARCHIVE_RESULT_STORED", again
        _assert_nothing_half_stored(stack, path, big_rib, staging)
        _assert_loaded_once(stack, path, big_rib, again)
        if mid_stream:
            break
    assert mid_stream, f"the store was never frozen mid-stream: {outcomes}"


# --- 3. the BigQuery emulator killed around a load -------------------------------------------
def test_bigquery_emulator_killed_before_the_load_heals_and_keeps_its_data(
    stack: Stack, airflow: Airflow, tmp_path: Path
) -> None:
    """The emulator is frozen as ``convert`` succeeds and killed once ``load`` runs, so the
    load task meets a dead, then restarting, emulator. The run ends SUCCEEDED with the file's
    rows once, and a file loaded before the crash keeps its rows, table and job ledger."""
    bq = bigquery_client(stack.settings)
    earlier = _rib(tmp_path, "rib.20261101.0100", 40, seed=93)
    earlier_path = "fault-bq/bgpdata/2026.11/RIBS/loaded-before-the-crash"
    code, reply = upload_cli(stack, earlier.path, earlier_path, wait=WAIT_SECONDS)
    assert code == 0, reply
    _assert_loaded_once(stack, earlier_path, earlier, reply)
    (earlier_job,) = _load_jobs(stack, earlier_path, earlier.sha256)

    rib = _small_rib(tmp_path, seed=94)
    path = "fault-bq/bgpdata/2026.11/RIBS/killed-before-load"
    run_id = paths.run_id(paths.parse(path), rib.sha256)
    with (
        supervised(stack, "bigquery") as emulator,
        background_upload(stack, rib, path) as (
            cli,
            outcome,
        ),
    ):
        _wait_for(
            "convert succeeded",
            lambda: cli.poll() is not None or airflow.task_state(run_id, "convert") == "success",
        )
        assert cli.poll() is None, outcome()
        _freeze(emulator)
        _wait_for(
            "load started against the frozen emulator",
            lambda: airflow.task_state(run_id, "load") in STARTED,
        )
        _kill(emulator)
        code, reply, stderr = outcome()

    assert code == 0, (json.dumps(reply, indent=2), stderr)
    _assert_loaded_once(stack, path, rib, reply)
    status = stack.run(
        str(BIN / "upload-to-cloudz"), "status", path, "-d", stack.endpoint, "--json"
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["runState"] == "success"
    load = airflow.task(run_id, "load")
    assert load is not None and load["state"] == "success", load
    # the Google client retries connection errors within the try: Airflow need not retry
    print(f"load succeeded on try {load['try_number']}")

    # what the emulator held before the crash is still there (its --data-dir persists)
    assert _rows(stack, earlier_path) == earlier.rows
    table = bq.get_table(stack.settings.table_ref)
    assert table.time_partitioning is not None
    assert table.time_partitioning.field == schema.PARTITION_FIELD
    job = bq.get_job(earlier_job.job_id, project=stack.settings.gcp_project)
    assert isinstance(job, bigquery.LoadJob), job
    assert (job.state, job.output_rows) == ("DONE", earlier.rows)


def test_bigquery_emulator_killed_during_the_load_job_heals(
    stack: Stack, airflow: Airflow, tmp_path: Path
) -> None:
    """The emulator is killed while it runs the file's load job. A load job is atomic (no
    row of it is in the table) and lost with the process: the run must heal by a retry
    and end SUCCEEDED with the file's rows once."""
    rib = _small_rib(tmp_path, seed=95)
    path = "fault-bq/bgpdata/2026.11/RIBS/killed-during-load-job"
    bq = bigquery_client(stack.settings)
    running: list[Any] = []
    with background_upload(stack, rib, path) as (cli, outcome):

        def load_job_running() -> bool:
            jobs = _load_jobs(stack, path, rib.sha256)
            running[:] = [j for j in jobs if j.state == "RUNNING"]
            return bool(running) or cli.poll() is not None

        with supervised(stack, "bigquery") as emulator:
            _wait_for("the file's load job running in the emulator", load_job_running)
            assert running, ("the upload ended before its load job was seen running", outcome())
            _kill(emulator)
            (job,) = running
        # serving again: the killed load appended none of its rows or all (a load job is
        # atomic; all, only if a retry was already quick enough), and its job died with it
        assert _rows(stack, path) in (0, rib.rows)
        after = bq.get_job(job.job_id, project=stack.settings.gcp_project)
        assert after.state == "DONE", (
            f"the restarted emulator reports {job.job_id}, which died with the old "
            f"process, as {after.state}; the load task would wait on it until its timeout"
        )
        code, reply, stderr = outcome()
    assert code == 0, (json.dumps(reply, indent=2), stderr)
    _assert_loaded_once(stack, path, rib, reply)


def test_object_store_hung_while_bigquery_reads_the_avro_heals(
    stack: Stack, airflow: Airflow, tmp_path: Path
) -> None:
    """fake-gcs-server is frozen as ``convert`` succeeds, so the load job the emulator starts
    hangs reading the Avro object from it until its reads time out and the job fails (about
    two minutes); then the store answers again. A failed load job appends nothing: another
    try of the task loads the file, once. (Before e2ed920 the task took the failed job for
    one "finished by another try" and failed the run for good, without a retry.)"""
    rib = _small_rib(tmp_path, seed=96)
    path = "fault-gcs/bgpdata/2026.11/RIBS/hung-during-load-read"
    run_id = paths.run_id(paths.parse(path), rib.sha256)
    failed: list[Any] = []
    with supervised(stack, "gcs") as gcs, background_upload(stack, rib, path) as (cli, outcome):

        def load_job_failed() -> bool:
            jobs = _load_jobs(stack, path, rib.sha256)
            failed[:] = [j for j in jobs if j.state == "DONE" and j.error_result]
            return bool(failed) or cli.poll() is not None

        _wait_for(
            "convert succeeded",
            lambda: cli.poll() is not None or airflow.task_state(run_id, "convert") == "success",
        )
        assert cli.poll() is None, outcome()
        _freeze(gcs)
        try:
            _wait_for("the load job failing on the hung store", load_job_failed)
        finally:
            gcs.resume()
        assert failed, ("the upload ended before its load job failed", outcome())
        print(f"load job {failed[0].job_id}: {failed[0].error_result}")
        # the failed job appended nothing (a retry, 10 s later, may have loaded all)
        assert _rows(stack, path) in (0, rib.rows)
        code, reply, stderr = outcome()
    assert code == 0, (json.dumps(reply, indent=2), stderr)
    _assert_loaded_once(stack, path, rib, reply)
