"""One watcher per replica that tells waiting uploads when their run has ended.

Without it every waiting upload read its own run twice a second: 60 uploads of a burst made
~240 requests/s to the api-server, whose database pool then timed out and failed the very
triggers the uploads waited for. The watcher makes one request per interval for all of them
(those of the waited runs that have ended, asked by run id: the answer costs the same with a
year of runs in Airflow's DB as with none, where a listing of the runs ended in a look-back
window read every run of the DAG), and a waiting call reads its own run only when the watcher
says it ended, or every ``recheck`` seconds as a safety net (a run cleared and re-run).
"""

from __future__ import annotations

import logging
import threading

from ingest_service.airflow_runs import AirflowRejected, AirflowRuns, AirflowUnavailable

log = logging.getLogger(__name__)


class RunWatcher:
    def __init__(
        self,
        runs: AirflowRuns,
        *,
        interval: float = 0.5,
        stopping: threading.Event | None = None,
    ) -> None:
        self._runs = runs
        self._interval = interval
        self._stopping = stopping or threading.Event()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def wait(self, run_id: str, timeout: float) -> bool:
        """Block until the watcher sees ``run_id`` ended (True) or ``timeout`` passes."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(run_id, set()).add(event)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="run-watcher", daemon=True)
                self._thread.start()
            self._wake.notify()
        try:
            return event.wait(timeout)
        finally:
            with self._lock:
                waiting = self._waiters.get(run_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[run_id]

    def _loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                while not self._waiters:
                    self._wake.wait()
                waited = list(self._waiters)
            try:
                ended = self._runs.ended_among(waited)
            except (AirflowUnavailable, AirflowRejected) as exc:
                log.warning("run watcher: %s", exc)
                ended = {}
            except Exception:  # a body it cannot read: keep watching, never die silently
                log.exception("run watcher: listing ended runs failed")
                ended = {}
            with self._lock:
                for run_id in ended.keys() & self._waiters.keys():
                    for event in self._waiters[run_id]:
                        event.set()
            self._stopping.wait(self._interval)
