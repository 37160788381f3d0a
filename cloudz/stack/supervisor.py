"""Start, watch and stop the stack's processes.

Why it is built this way:

- every child gets ``PR_SET_PDEATHSIG`` and its own process group, so a ``kill -9`` of the
  supervisor cannot leave servers behind that a later ``up`` would mistake for its own;
- ``up`` refuses to start over leftovers (a live supervisor, a live postmaster, a marked
  process, a busy port) instead of passing readiness checks against old servers;
- a child that dies is restarted with backoff, and marked failed after ``MAX_RESTARTS``;
- the stop order is the reverse of the start order, Postgres last with SIGINT.

The supervisor's state is written to ``run/status.json`` for ``cloudz-stack status``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from cloudz.settings import Settings
from cloudz.stack import airflow_env, bigquery_emulator, postgres, processes, readiness
from cloudz.stack.layout import Layout
from cloudz.stack.processes import ProcessSpec
from cloudz.stack.receiver_secrets import ensure_receiver_secrets

log = logging.getLogger("cloudz.stack")

#: set in every child's environment; finds a stack's processes, grandchildren included
OWNER_VAR = "CLOUDZ_STACK_OWNER"
PR_SET_PDEATHSIG = 1
MAX_RESTARTS = 5
#: a child that stayed ready this long starts its restart count afresh
STABLE_AFTER = 60.0
POLL_INTERVAL = 0.25
ONE_SHOT_TIMEOUT = 300.0
#: how long the watchdog lets a stack whose supervisor died stop by itself
WATCHDOG_GRACE = 15.0


class StackError(RuntimeError):
    """The stack cannot start (leftovers, a component that does not get ready)."""

    def __init__(self, message: str, component: str | None = None) -> None:
        super().__init__(message)
        self.component = component


class Interrupted(Exception):
    """A stop was requested while starting."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_libc: ctypes.CDLL | None = None


def _child_setup(
    death_signal: int, parent_pid: int, pre_exec: Callable[[], None] | None
) -> Callable[[], None]:
    """Pre-exec hook: drop privileges, then ask for ``death_signal`` when the parent dies.

    The order matters: changing credentials clears the parent-death signal.
    """
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    libc = _libc

    def _setup() -> None:
        if pre_exec is not None:
            pre_exec()
        libc.prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl
            os.kill(os.getpid(), death_signal)

    return _setup


def spawn(
    command: Sequence[str],
    env: dict[str, str],
    log_path: Path,
    owner: Path,
    death_signal: int = signal.SIGTERM,
    cwd: Path | None = None,
    pre_exec: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own session that dies with us; output appended to ``log_path``."""
    env = {**env, OWNER_VAR: str(owner)}
    with log_path.open("ab") as out:
        out.write(f"\n=== {_now_iso()} start: {' '.join(command)}\n".encode())
        out.flush()
        return subprocess.Popen(
            list(command),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_setup(death_signal, os.getpid(), pre_exec),
        )


# --- leftovers -------------------------------------------------------------------------------


def _kill_session(sid: int) -> None:
    """SIGKILL every process left in the session ``sid`` (its leader has exited)."""
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and os.getsid(proc.pid) == sid:
                log.warning("ending %s (pid %d), left by session %d", proc.name(), proc.pid, sid)
                proc.kill()
        except (psutil.Error, OSError):
            continue


def is_supervisor(pid: int) -> bool:
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
    return "cloudz.stack" in cmdline or "cloudz-stack" in cmdline


def read_pid(path: Path) -> int | None:
    """The first number in a pid file."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError):
        return None


def running_supervisor(layout: Layout) -> int | None:
    """The pid of this state dir's live supervisor, if any."""
    pid = read_pid(layout.supervisor_pid)
    if pid is not None and pid != os.getpid() and is_supervisor(pid):
        return pid
    return None


def _recorded_sessions(state_dir: Path) -> set[int]:
    """Session ids of the children named in ``run/*.pid`` (each child leads its own session)."""
    sessions = set()
    for pid_file in Layout(state_dir).run.glob("*.pid"):
        try:
            pid_text, created_text = pid_file.read_text().split()
            pid, created = int(pid_text), float(created_text)
        except (OSError, ValueError):
            continue
        try:
            if abs(psutil.Process(pid).create_time() - created) > 1.0:
                continue  # the pid was reused: not our session
        except psutil.NoSuchProcess:
            pass  # the leader is gone; its session id stays reserved while members live
        sessions.add(pid)
    return sessions


def owned_processes(state_dir: Path) -> list[psutil.Process]:
    """Live processes started by a supervisor of ``state_dir``, grandchildren included.

    A process belongs to the stack if its environment carries the owner mark or it is in the
    session of a recorded child: ``setproctitle`` (Airflow's workers, the api-server)
    overwrites the environment block that ``/proc/PID/environ`` shows.
    """
    owner = str(state_dir)
    sessions = _recorded_sessions(state_dir)
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if os.getsid(proc.pid) in sessions or proc.environ().get(OWNER_VAR) == owner:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def forget_pid_files(layout: Layout) -> None:
    """Remove ``run/*.pid`` once their processes are gone, so no reused pid is taken for ours."""
    for pid_file in layout.run.glob("*.pid"):
        pid_file.unlink(missing_ok=True)


def leftovers(settings: Settings, groups: Iterable[str]) -> list[str]:
    """Why a new stack must not start here, one reason a line (empty: all clear)."""
    layout = Layout.of(settings)
    groups = list(groups)
    problems = []
    pid = running_supervisor(layout)
    if pid is not None:
        problems.append(f"a supervisor already runs for {layout.state_dir} (pid {pid})")
    postmaster = postgres.live_postmaster(layout)
    if postmaster is not None:
        problems.append(f"a postgres still runs on {layout.pgdata} (pid {postmaster})")
    owned = owned_processes(layout.state_dir)
    if owned:
        pids = ", ".join(str(p.pid) for p in owned[:10])
        problems.append(f"{len(owned)} processes of an earlier stack still run (pids {pids})")
    for port, what in processes.all_ports(settings, groups).items():
        if readiness.port_in_use(port):
            problems.append(f"port {port} ({what}) is already in use")
    for port, what in processes.udp_ports(settings, groups).items():
        if readiness.port_in_use(port, settings.statsd_host, socket.SOCK_DGRAM):
            problems.append(f"UDP port {port} ({what}) is already in use")
    other_host = "receiver" in groups and settings.receiver_host != "127.0.0.1"
    if other_host and readiness.port_in_use(settings.receiver_port, settings.receiver_host):
        problems.append(f"port {settings.receiver_endpoint} (receiver) is already in use")
    return problems


def _is_postgres(proc: psutil.Process) -> bool:
    try:
        return bool(proc.name().startswith("postgres"))
    except psutil.Error:
        return False


def terminate_owned(state_dir: Path, timeout: float = 30.0) -> list[int]:
    """Stop every process of ``state_dir``'s stack: the others first, Postgres last, then KILL."""
    procs = owned_processes(state_dir)
    clients = [p for p in procs if not _is_postgres(p)]
    servers = [p for p in procs if _is_postgres(p)]
    for batch, sig in ((clients, signal.SIGTERM), (servers, signal.SIGINT)):
        for proc in batch:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        _, alive = psutil.wait_procs(batch, timeout=timeout)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in procs]


# --- supervision -----------------------------------------------------------------------------


@dataclass
class Child:
    """A supervised process and what the status shows about it."""

    spec: ProcessSpec
    popen: subprocess.Popen[bytes] | None = None
    state: str = "pending"  # pending, starting, ready, restarting, failed, stopped
    started_at: float = 0.0
    started_wall: str = ""
    ready_seconds: float | None = None
    ready_since: float | None = None
    restarts: int = 0
    next_restart: float = 0.0
    last_exit: int | None = None

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def to_json(self, layout: Layout) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "group": self.spec.group,
            "pid": self.pid,
            "ports": list(self.spec.ports),
            "state": self.state,
            "started_at": self.started_wall,
            "ready_seconds": self.ready_seconds,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "log": str(layout.log(self.spec.name)),
        }


@dataclass
class Supervisor:
    """Runs one stack in the foreground until asked to stop (SIGTERM, SIGINT or SIGHUP)."""

    settings: Settings
    groups: tuple[str, ...] = processes.GROUPS
    dags_folder: Path | None = None
    startup_timeout: float = 240.0
    on_ready: Callable[[dict[str, Any]], None] | None = None
    children: list[Child] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    phase: str = "starting"
    error: str | None = None
    failed_component: str | None = None
    _stop: bool = False
    _t0: float = 0.0
    _ready_seconds: float | None = None
    _watchdog: subprocess.Popen[bytes] | None = None
    _watchdog_pipe: int | None = None

    @property
    def layout(self) -> Layout:
        return Layout.of(self.settings)

    # --- entry point ------------------------------------------------------------------------
    def run(self) -> int:
        """Start everything, supervise, stop everything; 0 after a requested stop."""
        layout = self.layout
        layout.make_dirs()
        if "postgres" in self.groups:
            postgres.prepare_dirs(layout)
        else:
            layout.run.mkdir(exist_ok=True)
        problems = leftovers(self.settings, self.groups)
        if problems:
            raise StackError("refusing to start: " + "; ".join(problems))
        layout.supervisor_pid.write_text(f"{os.getpid()}\n")
        self._t0 = time.monotonic()
        self._start_watchdog()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._request_stop)
        code = 0
        try:
            self._start()
            self.phase = "ready"
            self._ready_seconds = round(time.monotonic() - self._t0, 1)
            log.info("stack ready in %.1f s", self._ready_seconds)
            self.write_status()
            if self.on_ready is not None:
                self.on_ready(self.status())
            self._supervise()
        except Interrupted:
            log.info("stop requested while starting")
        except StackError as exc:
            code = 1
            self.phase = "failed"
            self.error = str(exc)
            self.failed_component = exc.component
            log.error("%s", exc)
            self.write_status()
        finally:
            self.phase = "stopping"
            self.write_status()
            self._stop_all()
            self.phase = "failed" if code else "stopped"
            self.write_status()
            with contextlib.suppress(FileNotFoundError):
                if read_pid(layout.supervisor_pid) == os.getpid():
                    layout.supervisor_pid.unlink()
        return code

    def _start_watchdog(self) -> None:
        """Start ``cloudz.stack.watchdog``; it holds the read end of a pipe only we write to."""
        read_end, write_end = os.pipe()
        env = {**os.environ, OWNER_VAR: str(self.layout.state_dir)}
        env["PYTHONPATH"] = airflow_env.python_path(os.environ.get("PYTHONPATH"))
        command = [
            sys.executable,
            "-m",
            "cloudz.stack.watchdog",
            "--state-dir",
            str(self.layout.state_dir),
            "--supervisor-pid",
            str(os.getpid()),
            "--grace",
            str(WATCHDOG_GRACE),
        ]
        with self.layout.log("watchdog").open("ab") as out:
            self._watchdog = subprocess.Popen(
                command,
                env=env,
                stdin=read_end,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        os.close(read_end)
        self._watchdog_pipe = write_end

    def _release_watchdog(self) -> None:
        """Tell the watchdog this stop was a clean one, so it exits without killing anything."""
        if self._watchdog_pipe is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._watchdog_pipe, b"clean\n")
        os.close(self._watchdog_pipe)
        self._watchdog_pipe = None
        if self._watchdog is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=10)

    def _request_stop(self, signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self._stop = True

    # --- start ------------------------------------------------------------------------------
    def _deadline(self) -> float:
        return self._t0 + self.startup_timeout

    def _start(self) -> None:
        settings, layout = self.settings, self.layout
        if "bigquery" in self.groups:
            self._step("setup-bigquery-emulator", self._ensure_bigquery)
        if "postgres" in self.groups:
            self._step("initdb", lambda: postgres.initdb(layout, layout.log("postgres")))
        specs = processes.build_specs(settings, self.groups, self.dags_folder)
        self.children = [Child(spec) for spec in specs]
        # the servers that depend on nothing start together
        independent = ("postgres", "gcs", "bigquery", "metrics", "broker")
        first = [c for c in self.children if c.spec.group in independent]
        for child in first:
            self._launch(child)
        self._wait_ready(first)
        if "postgres" in self.groups:
            self._step("create-database", lambda: postgres.create_database(settings))
        self._prepare_airflow_and_provision()
        airflow = [c for c in self.children if c.spec.group == "airflow"]
        for child in airflow:
            self._launch(child)
        self._wait_ready(airflow)
        # Celery workers run tasks through the api-server's execution API
        workers = [c for c in self.children if c.spec.group == "workers"]
        for child in workers:
            self._launch(child)
        self._wait_ready(workers)
        receivers = [c for c in self.children if c.spec.group == "receiver"]
        if receivers:
            self._step("receiver-secrets", lambda: ensure_receiver_secrets(settings))
        for child in receivers:
            self._launch(child)
        self._wait_ready(receivers)

    def _ensure_bigquery(self) -> None:
        bigquery_emulator.ensure_installed(self.layout.log("setup-bigquery-emulator"))

    def _step(self, name: str, action: Callable[[], None]) -> None:
        t = time.monotonic()
        try:
            action()
        except Exception as exc:
            raise StackError(f"{name} failed: {exc}", name) from exc
        self.steps[name] = round(time.monotonic() - t, 1)
        self.write_status()

    def _prepare_airflow_and_provision(self) -> None:
        """``airflow db migrate`` and provisioning, two one-shot processes run side by side."""
        jobs: dict[str, subprocess.Popen[bytes]] = {}
        started = time.monotonic()
        if "airflow" in self.groups:
            env = {**os.environ, **airflow_env.airflow_env(self.settings, self.dags_folder)}
            airflow = shlex.quote(str(processes.airflow_bin()))
            pools = " && ".join(
                f"{airflow} pools set " + " ".join(shlex.quote(str(x)) for x in pool)
                for pool in (
                    airflow_env.table_writes_pool(self.settings),
                    airflow_env.backfill_pool(self.settings),
                    airflow_env.rib_pool(self.settings),
                )
                if pool is not None
            )
            jobs["airflow-migrate"] = self._one_shot(
                ["sh", "-c", f"{airflow} db migrate && {pools}"],
                env,
                "airflow-migrate",
            )
        if {"gcs", "bigquery"} <= set(self.groups):
            # a process of its own keeps the Google client libraries out of the supervisor
            env = {
                **os.environ,
                **self.settings.to_env(),
                **airflow_env.emulator_env(self.settings),
            }
            env["PYTHONPATH"] = airflow_env.python_path(os.environ.get("PYTHONPATH"))
            jobs["provision"] = self._one_shot(
                [sys.executable, "-m", "cloudz.stack.provision"], env, "provision"
            )
        while jobs:
            for name, job in list(jobs.items()):
                code = job.poll()
                if code is None:
                    continue
                del jobs[name]
                if code != 0:
                    raise StackError(f"{name} exited with {code}", name)
                self.steps[name] = round(time.monotonic() - started, 1)
                self.write_status()
            if self._stop:
                for job in jobs.values():
                    job.terminate()
                    job.wait()
                raise Interrupted
            if jobs and time.monotonic() > started + ONE_SHOT_TIMEOUT:
                for job in jobs.values():
                    job.kill()
                raise StackError(f"timed out: {', '.join(jobs)}", next(iter(jobs)))
            time.sleep(POLL_INTERVAL)

    def _one_shot(
        self, command: list[str], env: dict[str, str], name: str
    ) -> subprocess.Popen[bytes]:
        log.info("running %s", name)
        return spawn(
            command, env, self.layout.log(name), self.layout.state_dir, cwd=self.layout.state_dir
        )

    def _launch(self, child: Child) -> None:
        spec = child.spec
        child.popen = spawn(
            spec.command,
            spec.env,
            self.layout.log(spec.name),
            self.layout.state_dir,
            death_signal=spec.stop_signal,
            cwd=spec.cwd,
            pre_exec=spec.pre_exec,
        )
        try:
            created = psutil.Process(child.popen.pid).create_time()
        except psutil.Error:
            created = time.time()
        self.layout.pid_file(spec.name).write_text(f"{child.popen.pid} {created}\n")
        child.state = "starting"
        child.started_at = time.monotonic()
        child.started_wall = _now_iso()
        child.ready_seconds = None
        child.ready_since = None
        log.info("started %s (pid %d)", spec.name, child.popen.pid)
        self.write_status()

    def _wait_ready(self, children: list[Child]) -> None:
        """Wait for all ``children`` to pass their probes; fail fast if one exits."""
        pending = list(children)
        while pending:
            if self._stop:
                raise Interrupted
            for child in list(pending):
                assert child.popen is not None
                code = child.popen.poll()
                if code is not None:
                    child.state = "failed"
                    child.last_exit = code
                    raise StackError(
                        f"{child.spec.name} exited with code {code} while starting",
                        child.spec.name,
                    )
                if child.spec.ready():
                    self._mark_ready(child)
                    pending.remove(child)
            if pending and time.monotonic() > self._deadline():
                names = ", ".join(c.spec.name for c in pending)
                raise StackError(
                    f"not ready after {self.startup_timeout:.0f} s: {names}", pending[0].spec.name
                )
            if pending:
                time.sleep(POLL_INTERVAL)

    def _mark_ready(self, child: Child) -> None:
        now = time.monotonic()
        child.state = "ready"
        child.ready_seconds = round(now - child.started_at, 1)
        child.ready_since = now
        log.info("%s ready in %.1f s", child.spec.name, child.ready_seconds)
        self.write_status()

    # --- supervise ---------------------------------------------------------------------------
    def _supervise(self) -> None:
        while not self._stop:
            for child in self.children:
                self._check(child)
            time.sleep(POLL_INTERVAL)

    def _check(self, child: Child) -> None:
        now = time.monotonic()
        if child.state in ("starting", "ready") and child.popen is not None:
            code = child.popen.poll()
            if code is not None:
                child.last_exit = code
                # what it started (Airflow's executor workers, task processes) would outlive
                # it, unseen by `down`, and pile up with each restart: end its session first
                _kill_session(child.popen.pid)
                if child.ready_since is not None and now - child.ready_since > STABLE_AFTER:
                    child.restarts = 0
                child.restarts += 1
                if child.restarts > MAX_RESTARTS:
                    child.state = "failed"
                    log.error(
                        "%s exited with %d; gave up after %d restarts",
                        child.spec.name,
                        code,
                        MAX_RESTARTS,
                    )
                else:
                    delay = min(2.0 ** (child.restarts - 1), 30.0)
                    child.state = "restarting"
                    child.next_restart = now + delay
                    log.warning(
                        "%s exited with %d; restart %d/%d in %.0f s",
                        child.spec.name,
                        code,
                        child.restarts,
                        MAX_RESTARTS,
                        delay,
                    )
                self.write_status()
                return
        if child.state == "restarting" and now >= child.next_restart:
            self._launch(child)
        elif child.state == "starting" and child.spec.ready():
            self._mark_ready(child)

    # --- stop --------------------------------------------------------------------------------
    def _stop_all(self) -> None:
        for group in reversed(processes.GROUPS):
            members = [c for c in self.children if c.spec.group == group]
            self._stop_group(members)
        self._release_watchdog()
        swept = terminate_owned(self.layout.state_dir, timeout=10)
        if swept:
            log.warning("killed leftover processes %s", swept)
        forget_pid_files(self.layout)

    def _stop_group(self, members: list[Child]) -> None:
        running = [c for c in members if c.running()]
        for child in running:
            assert child.popen is not None
            log.info("stopping %s (pid %d)", child.spec.name, child.popen.pid)
            with contextlib.suppress(ProcessLookupError):
                child.popen.send_signal(child.spec.stop_signal)
        deadline = time.monotonic() + max((c.spec.stop_timeout for c in running), default=0)
        for child in running:
            assert child.popen is not None
            try:
                child.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time: SIGKILL", child.spec.name)
        for child in members:
            if child.popen is None:
                continue
            # whatever is left of its process group (workers, task processes)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=5)
            if child.state != "failed":
                child.state = "stopped"
        if members:
            self.write_status()

    # --- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "supervisor_pid": os.getpid(),
            "phase": self.phase,
            "error": self.error,
            "failed_component": self.failed_component,
            "state_dir": str(self.layout.state_dir),
            "groups": list(self.groups),
            "dags_folder": str(self.dags_folder) if self.dags_folder else None,
            "ready_seconds": self._ready_seconds,
            "steps": self.steps,
            "components": [c.to_json(self.layout) for c in self.children],
            "updated_at": _now_iso(),
        }

    def write_status(self) -> None:
        """Atomically replace ``run/status.json``."""
        path = self.layout.status_file
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(self.status(), indent=2) + "\n")
        os.replace(tmp, path)


def read_status(layout: Layout) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(layout.status_file.read_text())
    except (OSError, ValueError):
        return None
    return loaded
