"""The CeleryExecutor on a stack of its own (``pytest -m celery``; ``make test`` runs it).

A real Valkey broker and two real Celery workers (``worker-0`` serves ``default``,
``worker-1`` serves ``default`` and ``ribs``), started by ``cloudz-stack up --executor
celery``. Two things are shown for real:

- the tasks of one burst run on both workers, and a RIB's conversion takes the RIB queue;
- a worker killed (SIGKILL, its whole process tree, as a machine that dies) while it runs a
  file's load loses nothing: the scheduler sees the task's heartbeat stop, the task is
  retried on the other worker, and the file's rows are in the table exactly once.

Which worker takes a task is Celery's choice; the tests steer it only the way an operator
drains a worker, by Celery's own ``cancel_consumer``/``add_consumer`` control commands.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from celery import Celery
from samples import SAMPLES_DIR
from stack_faults import (
    STARTED,
    Airflow,
    MrtFile,
    assert_loaded_once,
    background_upload,
    component_status,
    file_rows,
    freeze,
    rib_file,
    supervised,
    wait_for,
)
from stack_session import Stack, started_stack, upload_cli

from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.convert import convert_file
from cloudz.stack import airflow_env, celery
from cloudz.stack.layout import Layout

pytestmark = [pytest.mark.stack, pytest.mark.celery]

UPDATES = SAMPLES_DIR / "ripe-ris" / "updates.20160811.1600.gz"
#: the per-file DAG's tasks (its REST path)
TASKS = f"/api/v2/dags/{contract.DAG_ID}/dagRuns"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """A stack with the CeleryExecutor and the default two workers."""
    # two slots a worker whatever the machine's cores: a burst of 7 loads is more than one
    # worker can hold, so both must take some
    with started_stack(executor="celery", celery_concurrency="2") as s:
        yield s


@pytest.fixture(scope="module")
def workers(stack: Stack) -> dict[str, celery.Worker]:
    found = celery.workers(stack.settings, airflow_env.parallelism(stack.settings))
    assert [(w.name, w.queues) for w in found] == [
        ("worker-0", ("default",)),
        ("worker-1", ("default", "ribs")),
    ]
    return {w.name: w for w in found}


@pytest.fixture(scope="module")
def control(stack: Stack) -> Iterator[Celery]:
    """A Celery app on the stack's broker, for its control commands."""
    password = airflow_env.stack_secrets(Layout.of(stack.settings).airflow_home)
    app = Celery(broker=celery.broker_url(stack.settings, password["broker_password"]))
    yield app
    app.close()


class Api(Airflow):
    """Airflow's REST API as the tests read it: the fault tests' client, plus a run's task
    instances, a task's tries and a pool's slots."""

    def tasks(self, run_id: str) -> list[dict[str, Any]]:
        reply = self.client.get(f"{TASKS}/{run_id}/taskInstances")
        reply.raise_for_status()
        return list(reply.json()["task_instances"])

    def tries(self, run_id: str, task_id: str) -> list[dict[str, Any]]:
        reply = self.client.get(f"{TASKS}/{run_id}/taskInstances/{task_id}/tries")
        reply.raise_for_status()
        return sorted(reply.json()["task_instances"], key=lambda t: t["try_number"])

    def pool_slots(self, pool: str, slots: int) -> None:
        current = self.client.get(f"/api/v2/pools/{pool}")
        current.raise_for_status()
        deferred = current.json()["include_deferred"]
        body = {"pool": pool, "slots": slots, "include_deferred": deferred}
        reply = self.client.patch(
            f"/api/v2/pools/{pool}", params={"update_mask": "slots"}, json=body
        )
        reply.raise_for_status()


@pytest.fixture
def api(stack: Stack) -> Iterator[Api]:
    a = Api(stack)
    yield a
    a.client.close()


def _worker_of(ti: dict[str, Any]) -> str:
    """``worker-1`` of the hostname ``worker-1@host`` (the stack's ``hostname_callable``)."""
    hostname = str(ti["hostname"])
    assert "@" in hostname, f"{ti['task_id']} ran on {hostname!r}, not on a named worker"
    return hostname.split("@", 1)[0]


def _file_rows(tmp_path: Path, mrt: Path, archive_path: str) -> int:
    """What the converter makes of the file, outside the stack."""
    report = convert_file(
        mrt, tmp_path / "expected.avro", collector=paths.parse(archive_path).collector,
        source_path=archive_path, source_sha256="0" * 64,
    )  # fmt: skip
    return report.rows


@contextlib.contextmanager
def _consumers(control: Celery, *, off: dict[str, str]) -> Iterator[None]:
    """Workers stop taking a queue (``{worker hostname: queue}``) until the block ends."""
    for hostname, queue in off.items():
        _consumer(control, "cancel_consumer", hostname, queue)
    try:
        yield
    finally:
        for hostname, queue in off.items():
            _consumer(control, "add_consumer", hostname, queue)


def _consumer(control: Celery, command: str, hostname: str, queue: str) -> None:
    """``cancel_consumer`` or ``add_consumer`` on one worker; its answer must say done."""
    replies = getattr(control.control, command)(
        queue, destination=[hostname], reply=True, timeout=10
    )
    answer = next((r[hostname] for r in replies if hostname in r), None)
    assert answer is not None and "ok" in answer, (command, hostname, queue, replies)


def _session(proc: psutil.Process) -> list[psutil.Process]:
    """The process and every other of its session (a worker's pool, task runners, tasks)."""
    sid = os.getsid(proc.pid)
    found = [proc]
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if p.pid != proc.pid and os.getsid(p.pid) == sid:
                found.append(p)
    return found


def _connected(proc: psutil.Process, port: int) -> bool:
    """A process of ``proc``'s session has a TCP connection to ``port`` on loopback."""
    for p in _session(proc):
        with contextlib.suppress(psutil.Error):
            if any(c.raddr and c.raddr.port == port for c in p.net_connections("tcp")):
                return True
    return False


def _kill_tree(proc: psutil.Process) -> int:
    """SIGKILL the worker and every process of its session (pool, task runners, tasks)."""
    victims = _session(proc)
    for p in victims:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=30)
    return len(victims)


# --- 1. one burst, both workers ---------------------------------------------------------------
def test_a_burst_runs_on_both_workers_and_a_rib_takes_the_rib_queue(
    stack: Stack, api: Api, workers: dict[str, celery.Worker], tmp_path: Path
) -> None:
    """Six update files and a RIB at once. The update files' loads are held (their pool has no
    slot) until every conversion is done, so they are queued together, more than one worker's
    slots: both workers must take some. The RIB's conversion and load take the RIB queue and
    pool (not held by the table-writes pool). Every file's rows are in the table once."""
    updates = [f"celery-{i}/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz" for i in range(6)]
    rib = rib_file(tmp_path, "rib.20261101.0000", 400, seed=71)
    rib_path = "celery-rib/bgpdata/2026.11/RIBS/rib.20261101.0000"
    expected = _file_rows(tmp_path, UPDATES, updates[0])
    jobs = [(UPDATES, path, expected) for path in updates] + [(rib.path, rib_path, rib.rows)]
    pool = stack.settings.table_writes_pool
    api.pool_slots(pool, 0)
    try:
        with ThreadPoolExecutor(len(jobs)) as uploads:
            replies = [uploads.submit(upload_cli, stack, f, p, wait=900) for f, p, _ in jobs]

            def converted(path: str, mrt: Path) -> bool:
                sha = MrtFile(mrt, 0).sha256
                ti = api.task(paths.run_id(paths.parse(path), sha), contract.TASK_CONVERT)
                return ti is not None and ti["state"] == "success"

            wait_for("every conversion", lambda: all(converted(p, f) for f, p, _ in jobs))
            held = [r for r, (_, p, _) in zip(replies, jobs, strict=True) if p != rib_path]
            assert not any(r.done() for r in held), [r.result() for r in held if r.done()]
            api.pool_slots(pool, stack.settings.table_writes_slots)
            results = [r.result() for r in replies]
    finally:
        api.pool_slots(pool, stack.settings.table_writes_slots)

    spread: Counter[str] = Counter()
    for (mrt, path, rows), (code, reply) in zip(jobs, results, strict=True):
        assert (code, reply["outcome"]) == (0, "OUTCOME_SUCCEEDED"), reply
        assert int(reply["load"]["rowsLoaded"]) == rows == file_rows(stack, path)
        run_id = paths.run_id(paths.parse(path), MrtFile(mrt, 0).sha256)
        for ti in api.tasks(run_id):
            spread[f"{_worker_of(ti)} {ti['task_id']}"] += 1
            rib_task = path == rib_path  # a RIB's conversion and load alike
            queue = "ribs" if rib_task else "default"
            assert ti["queue"] == queue, ti
            assert (ti["pool"] == "ribs") == rib_task, ti  # queued only as it can run
            if queue == "ribs":  # only worker-1 serves it
                assert _worker_of(ti) == "worker-1", ti
    print(f"tasks per worker: {dict(sorted(spread.items()))}")
    ran_loads = {key.split()[0] for key in spread if key.endswith(contract.TASK_LOAD)}
    assert ran_loads == set(workers), spread


# --- 2. a worker killed mid-task ----------------------------------------------------------
def test_a_worker_killed_during_a_load_loses_nothing(
    stack: Stack, api: Api, workers: dict[str, celery.Worker], control: Celery, tmp_path: Path
) -> None:
    """worker-1 is drained of ``default``, so worker-0 takes the file's tasks. The BigQuery
    emulator is frozen as the conversion succeeds, so the load is held in its first call to
    BigQuery (a connection of worker-0's task to the frozen emulator is seen); then worker-0
    and its whole process tree are killed and the emulator resumes. The supervisor
    restarts worker-0, which is drained in turn: the scheduler finds the load without a
    heartbeat, fails that try and retries it, and only worker-1 can take the retry. The file
    ends loaded, its rows once (one successful load job in its ledger)."""
    mrt_dir = tmp_path / "kill"
    mrt_dir.mkdir()
    mrt = mrt_dir / UPDATES.name
    shutil.copyfile(UPDATES, mrt)
    path = "celery-kill/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz"
    upload = MrtFile(mrt, _file_rows(tmp_path, mrt, path))
    run_id = paths.run_id(paths.parse(path), upload.sha256)
    w0, w1 = workers["worker-0"], workers["worker-1"]

    with (
        _consumers(control, off={w1.hostname(): "default"}),
        supervised(stack, "bigquery") as emulator,
        background_upload(stack, upload, path) as (cli, outcome),
    ):
        wait_for(
            "convert succeeded",
            lambda: (
                cli.poll() is not None
                or (api.task(run_id, contract.TASK_CONVERT) or {}).get("state") == "success"
            ),
        )
        assert cli.poll() is None, outcome()
        freeze(emulator)

        def load_running() -> bool:
            ti = api.task(run_id, contract.TASK_LOAD)
            return ti is not None and ti["state"] in STARTED and bool(ti["hostname"])

        wait_for("load running on a worker", load_running)
        load = api.task(run_id, contract.TASK_LOAD)
        assert load is not None and (load["state"], _worker_of(load)) == ("running", "worker-0")
        worker_proc = psutil.Process(component_status(stack, "celery-worker-0")["pid"])
        wait_for(
            "worker-0's load connected to the frozen emulator",
            lambda: _connected(worker_proc, stack.settings.bigquery_port),
        )
        killed = _kill_tree(worker_proc)
        emulator.resume()
        _consumer(control, "add_consumer", w1.hostname(), "default")

        def restarted() -> bool:
            status = component_status(stack, "celery-worker-0")
            return bool(status["state"] == "ready" and status["pid"] != worker_proc.pid)

        wait_for("worker-0 restarted by the supervisor", restarted)
        with _consumers(control, off={w0.hostname(): "default"}):
            code, reply, stderr = outcome()

    assert code == 0, (reply, stderr)
    assert_loaded_once(stack, path, upload, reply)
    tries = api.tries(run_id, contract.TASK_LOAD)
    print(
        f"killed worker-0 and {killed - 1} processes of its tree; load tries: "
        + ", ".join(f"{t['try_number']} {t['state']} on {t['hostname']}" for t in tries)
    )
    first, last = tries[0], tries[-1]
    # the killed try: failed by the scheduler (no heartbeat), then retried
    assert _worker_of(first) == "worker-0" and first["state"] in ("failed", "up_for_retry"), first
    assert (_worker_of(last), last["state"]) == ("worker-1", "success"), last
