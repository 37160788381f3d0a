"""The receiver follows a trigger whose answer was lost, and waits through the run watcher.

A lost answer (the api-server created the run, then the response timed out) cannot be
produced on demand with a real api-server, so these tests put a fake ``AirflowRuns`` behind
the real ``IngestService`` logic; the stack tests cover the real path end to end.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest

from ingest_service.airflow_runs import AirflowUnavailable, RunSnapshot, TaskState
from ingest_service.run_watcher import RunWatcher
from ingest_service.service import IngestService


class FakeRuns:
    """Airflow as seen through ``AirflowRuns``, with faults on request."""

    def __init__(self, *, lose_trigger_answers: int = 0, refuse: bool = False) -> None:
        self.runs: dict[str, str] = {}
        self.triggers = 0
        self.lose = lose_trigger_answers
        self.refuse = refuse
        self.listings = 0
        self.snapshots = 0
        self.asked: list[list[str]] = []

    def snapshot(self, run_id: str, xcom_keys: Any) -> RunSnapshot | None:
        self.snapshots += 1
        if self.refuse:
            raise AirflowUnavailable("connection refused", maybe_done=False)
        state = self.runs.get(run_id)
        if state is None:
            return None
        return RunSnapshot(run_id, state, tasks={"convert": TaskState("convert", state, 1)})

    def trigger(self, run_id: str, conf: dict[str, Any]) -> bool:
        self.triggers += 1
        created = run_id not in self.runs
        self.runs.setdefault(run_id, "queued")
        if self.lose:
            self.lose -= 1
            raise AirflowUnavailable("read timed out")  # created, answer lost
        return created

    def within(self, deadline: float | None) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def run_url(self, run_id: str) -> str:
        return f"http://airflow/{run_id}"

    def ended_among(self, run_ids: list[str]) -> dict[str, str]:
        self.listings += 1
        self.asked.append(sorted(run_ids))
        return {r: s for r, s in self.runs.items() if s in ("success", "failed") and r in run_ids}


def _service(runs: FakeRuns) -> IngestService:
    return IngestService(store=None, runs=runs, watcher=RunWatcher(runs, interval=0.05))  # type: ignore[arg-type]


def test_a_trigger_whose_answer_is_lost_is_found_not_reported_missing() -> None:
    runs = FakeRuns(lose_trigger_answers=2)
    run = _service(runs)._find_or_trigger("mrt:a", {"k": "v"}, time.monotonic() + 30)
    assert run is not None and run.run_id == "mrt:a"
    assert runs.triggers == 1  # the run was found by reading it, not by triggering again
    assert list(runs.runs) == ["mrt:a"]


def test_airflow_down_is_reported_at_once() -> None:
    runs = FakeRuns(refuse=True)
    with pytest.raises(AirflowUnavailable):
        _service(runs)._find_or_trigger("mrt:a", {"k": "v"}, time.monotonic() + 30)
    assert runs.snapshots == 1  # a refused connection is not followed up


class _Context:
    def is_active(self) -> bool:
        return True


def test_waiting_uploads_share_one_listing_and_wake_when_their_run_ends() -> None:
    runs = FakeRuns()
    service = _service(runs)
    ids = [f"mrt:{i}" for i in range(20)]
    for run_id in ids:
        runs.runs[run_id] = "running"
    results: dict[str, str] = {}

    def wait(run_id: str) -> None:
        snap = RunSnapshot(run_id, "running")
        results[run_id] = service._wait(snap, time.monotonic() + 30, _Context()).state

    threads = [threading.Thread(target=wait, args=(r,)) for r in ids]
    for t in threads:
        t.start()
    time.sleep(0.5)
    for run_id in ids:
        runs.runs[run_id] = "success"
    for t in threads:
        t.join(10)
    assert results == dict.fromkeys(ids, "success")
    # each waiter read its own run once, when the shared listing said it ended
    assert runs.snapshots == len(ids)
    assert runs.listings >= 1
    # the watcher asks for the runs it waits for, not for every run that ended
    assert runs.asked and all(set(asked) <= set(ids) for asked in runs.asked)


def test_a_trigger_that_may_have_arrived_is_never_reported_as_not_triggered() -> None:
    """Airflow keeps timing out after the POST went out: the reply says the run may exist."""
    from cloudz.archive.archived_file import ArchivedFile
    from cloudz.ingest.v1 import ingest_pb2 as pb

    class Lost(FakeRuns):
        def snapshot(self, run_id: str, xcom_keys: Any) -> RunSnapshot | None:
            raise AirflowUnavailable("read timed out")

    service = _service(Lost())
    status = pb.FileStatus()

    class ShortContext(_Context):
        def time_remaining(self) -> float:
            return 3.0

    file = ArchivedFile.of("c/bgpdata/2026.01/UPDATES/updates.20260101.0000.gz", "0" * 64, 10)
    service._store = type("S", (), {"bucket_name": "b"})()
    service._follow_run(status, file, ShortContext(), trigger_missing=True)
    assert status.outcome == pb.OUTCOME_RUNNING
    assert status.failure.stage == "trigger"
    assert "may have started" in status.failure.reason


def test_the_watcher_survives_a_listing_it_cannot_read() -> None:
    class Broken(FakeRuns):
        def ended_among(self, run_ids: list[str]) -> dict[str, str]:
            if not self.listings:
                self.listings += 1
                raise KeyError("dag_runs")
            return super().ended_among(run_ids)

    runs = Broken()
    runs.runs["mrt:a"] = "success"
    watcher = RunWatcher(runs, interval=0.05)  # type: ignore[arg-type]
    assert watcher.wait("mrt:a", 10)
    assert runs.listings >= 2


def test_requests_to_airflow_stop_at_the_calls_deadline() -> None:
    """A real ``AirflowRuns`` against a port that accepts nothing: the deadline, not the
    three 10 s tries, bounds the call (the slot wait and each try's timeout too)."""
    import socket

    from ingest_service.airflow_runs import AirflowRuns

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # accepts the connection, never answers
        port = listener.getsockname()[1]
        runs = AirflowRuns(
            f"http://127.0.0.1:{port}", dag_id="d", username="u", password="p", timeout=10.0
        )
        with pytest.raises(AirflowUnavailable) as raised, runs.within(time.monotonic() + 1.0):
            runs.snapshot("mrt:a", {})
        runs.close()
    # the try timed out at the deadline and no further try was made (not "timed out" x3)
    assert "deadline" in str(raised.value)
    assert not raised.value.maybe_done


def test_a_dag_not_registered_yet_is_asked_again_within_the_call() -> None:
    """Right after Airflow starts, its dag-processor may not have registered the DAG: the
    trigger answers 404; the upload asks again instead of failing the file."""

    class Fresh(FakeRuns):
        refused = 0

        def trigger(self, run_id: str, conf: dict[str, Any]) -> bool:
            if self.refused < 2:
                self.refused += 1
                raise AirflowUnavailable("no DAG mrt_file (yet)", maybe_done=False, soon=True)
            return super().trigger(run_id, conf)

    runs = Fresh()
    run = _service(runs)._find_or_trigger("mrt:a", {"k": "v"}, time.monotonic() + 30)
    assert run is not None and run.run_id == "mrt:a"
    assert (runs.refused, runs.triggers) == (2, 1)
