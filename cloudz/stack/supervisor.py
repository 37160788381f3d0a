"""Start, watch and stop the stack's processes: one plan of stages, one loop.

Why it is built this way:

- every child gets ``PR_SET_PDEATHSIG`` and its own session, so a ``kill -9`` of the
  supervisor cannot leave servers behind that a later ``up`` would mistake for its own;
- ``up`` refuses to start over leftovers (a live supervisor, a live postmaster, a marked
  process, a busy port) instead of passing readiness checks against old servers;
- a stage starts once every process of the one before passes its readiness probe (a one-shot
  step: exited 0); after that the same loop restarts a child that died, with backoff, and
  marks it failed after ``MAX_RESTARTS``;
- the stop order is the reverse of the start order, Postgres last with SIGINT.

The supervisor's state is written to ``run/status.json`` for ``cloudz-stack status``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
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
#: how long the watchdog lets a stack whose supervisor died stop by itself
WATCHDOG_GRACE = 15.0
#: a step the supervisor runs itself: a name and what it does
Step = tuple[str, Callable[[], None]]


class StackError(RuntimeError):
    """The stack cannot start (leftovers, a component that does not get ready)."""

    def __init__(self, message: str, component: str | None = None) -> None:
        super().__init__(message)
        self.component = component


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _child_setup(spec: ProcessSpec, parent_pid: int) -> Callable[[], None]:
    """Pre-exec hook: drop privileges, then ask for the stop signal when the parent dies
    (in that order: changing credentials clears the parent-death signal)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def _setup() -> None:
        if spec.pre_exec is not None:
            spec.pre_exec()
        libc.prctl(PR_SET_PDEATHSIG, spec.stop_signal, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl
            os.kill(os.getpid(), spec.stop_signal)

    return _setup


# --- leftovers -------------------------------------------------------------------------------


def read_pid(path: Path) -> int | None:
    """The first number in a pid file."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError):
        return None


def running_supervisor(layout: Layout) -> int | None:
    """The pid of this state dir's live supervisor, if any."""
    pid = read_pid(layout.supervisor_pid)
    if pid is None or pid == os.getpid():
        return None
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return None
    return pid if "cloudz.stack" in cmdline or "cloudz-stack" in cmdline else None


def _recorded_sessions(layout: Layout) -> set[int]:
    """Session ids of the children named in ``run/*.pid`` (each child leads its own session)."""
    sessions = set()
    for pid_file in layout.run.glob("*.pid"):
        try:
            pid_text, created = pid_file.read_text().split()
            if abs(psutil.Process(int(pid_text)).create_time() - float(created)) > 1.0:
                continue  # the pid was reused: not our session
        except psutil.NoSuchProcess:
            pass  # the leader is gone; its session id stays reserved while members live
        except (OSError, ValueError):
            continue
        sessions.add(int(pid_text))
    return sessions


def owned_processes(state_dir: Path) -> list[psutil.Process]:
    """Live processes started by a supervisor of ``state_dir``, grandchildren included.

    A process belongs to the stack if its environment carries the owner mark or it is in the
    session of a recorded child: ``setproctitle`` (Airflow's workers, the api-server)
    overwrites the environment block that ``/proc/PID/environ`` shows.
    """
    sessions = _recorded_sessions(Layout(state_dir))
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if os.getsid(proc.pid) in sessions or proc.environ().get(OWNER_VAR) == str(state_dir):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def forget_pid_files(layout: Layout, supervisor_pid: int | None) -> None:
    """Remove ``run/*.pid`` once their processes are gone, so no reused pid is taken for ours,
    and ``supervisor.pid`` if it names ``supervisor_pid``."""
    for pid_file in layout.run.glob("*.pid"):
        pid_file.unlink(missing_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if read_pid(layout.supervisor_pid) == supervisor_pid:
            layout.supervisor_pid.unlink()


def leftovers(settings: Settings, groups: Iterable[str]) -> list[str]:
    """Why a new stack must not start here, one reason a line (empty: all clear).

    The ports are those of the specs, looked at only once no process of this state dir is left:
    building the specs writes the broker's config and Airflow's passwords file, which a running
    stack's must keep."""
    layout, groups = Layout.of(settings), list(groups)
    problems = []
    if (pid := running_supervisor(layout)) is not None:
        problems.append(f"a supervisor already runs for {layout.state_dir} (pid {pid})")
    if (postmaster := postgres.live_postmaster(layout)) is not None:
        problems.append(f"a postgres still runs on {layout.pgdata} (pid {postmaster})")
    if owned := owned_processes(layout.state_dir):
        pids = ", ".join(str(p.pid) for p in owned[:10])
        problems.append(f"{len(owned)} processes of an earlier stack still run (pids {pids})")
    if problems:
        return problems
    specs = processes.build_specs(settings, groups)
    # each port once, named after its first user (the receivers share one)
    for port, name in {p: s.name for s in reversed(specs) for p in s.ports}.items():
        if readiness.port_in_use(port):
            problems.append(f"port {port} ({name}) is already in use")
    for port, name in {p: s.name for s in specs for p in s.udp_ports}.items():
        if readiness.port_in_use(port, settings.statsd_host, socket.SOCK_DGRAM):
            problems.append(f"UDP port {port} ({name}) is already in use")
    other_host = "receiver" in groups and settings.receiver_host != "127.0.0.1"
    if other_host and readiness.port_in_use(settings.receiver_port, settings.receiver_host):
        problems.append(f"port {settings.receiver_endpoint} (receiver) is already in use")
    return problems


def terminate_owned(state_dir: Path, timeout: float = 30.0) -> list[int]:
    """Stop every process of ``state_dir``'s stack: the others first, Postgres last, then KILL."""
    procs = owned_processes(state_dir)

    def is_postgres(proc: psutil.Process) -> bool:
        with contextlib.suppress(psutil.Error):
            return bool(proc.name().startswith("postgres"))
        return False

    servers = [p for p in procs if is_postgres(p)]
    clients = [p for p in procs if p not in servers]
    for batch, sig in ((clients, signal.SIGTERM), (servers, signal.SIGINT)):
        for proc in batch:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)
        for proc in psutil.wait_procs(batch, timeout=timeout)[1]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
    psutil.wait_procs(procs, timeout=5)
    return [p.pid for p in procs]


# --- supervision -----------------------------------------------------------------------------


@dataclass
class Child:
    """A supervised process and what the status shows about it."""

    spec: ProcessSpec
    popen: subprocess.Popen[bytes] | None = None
    state: str = "pending"  # starting, ready, restarting, failed, stopped; one-shots: done
    started_at: float = 0.0
    started_wall: str = ""
    ready_since: float | None = None
    restarts: int = 0
    next_restart: float = 0.0
    last_exit: int | None = None

    def to_json(self, layout: Layout) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "group": self.spec.group,
            "pid": None if self.popen is None else self.popen.pid,
            "ports": [*self.spec.ports, *self.spec.udp_ports],
            "state": self.state,
            "started_at": self.started_wall,
            "ready_seconds": self.ready_since and round(self.ready_since - self.started_at, 1),
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

    @property
    def layout(self) -> Layout:
        return Layout.of(self.settings)

    def run(self) -> int:
        """Start everything, supervise, stop everything; 0 after a requested stop."""
        layout = self.layout
        layout.make_dirs()
        if "postgres" in self.groups:
            postgres.prepare_dirs(layout)
        layout.run.mkdir(exist_ok=True)
        if problems := leftovers(self.settings, self.groups):
            raise StackError("refusing to start: " + "; ".join(problems))
        layout.supervisor_pid.write_text(f"{os.getpid()}\n")
        self._t0 = time.monotonic()
        watchdog, watchdog_pipe = self._start_watchdog()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._request_stop)
        code = 0
        try:
            self._loop()
        except StackError as exc:
            code, self.error, self.failed_component = 1, str(exc), exc.component
            log.error("%s", exc)
        finally:
            self.phase = "failed" if code else "stopping"
            self.write_status()
            for group in reversed(processes.GROUPS):
                self._stop_group([c for c in self.children if c.spec.group == group])
            with contextlib.suppress(OSError):  # the watchdog exits without killing anything
                os.write(watchdog_pipe, b"clean\n")
            os.close(watchdog_pipe)
            with contextlib.suppress(subprocess.TimeoutExpired):
                watchdog.wait(timeout=10)
            if swept := terminate_owned(layout.state_dir, timeout=10):
                log.warning("killed leftover processes %s", swept)
            self.phase = "failed" if code else "stopped"
            self.write_status()
            forget_pid_files(layout, os.getpid())
        return code

    def _start_watchdog(self) -> tuple[subprocess.Popen[bytes], int]:
        """Start ``cloudz.stack.watchdog`` on the read end of a pipe only we write to."""
        read_end, write_end = os.pipe()
        env = {**os.environ, OWNER_VAR: str(self.layout.state_dir)}
        env["PYTHONPATH"] = airflow_env.python_path(os.environ.get("PYTHONPATH"))
        command = [sys.executable, "-m", "cloudz.stack.watchdog", str(self.layout.state_dir)]
        command += [str(os.getpid()), str(WATCHDOG_GRACE)]
        with self.layout.log("watchdog").open("ab") as out:
            watchdog = subprocess.Popen(
                command, env=env, stdin=read_end, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        os.close(read_end)
        return watchdog, write_end

    def _request_stop(self, signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self._stop = True

    def _plan(self) -> list[list[ProcessSpec | Step]]:
        """The stages in start order: the servers that depend on nothing start together, then
        the database, Airflow's migration and provisioning, Airflow, its workers (they run
        tasks through the api-server), the receivers."""
        settings, layout, groups = self.settings, self.layout, set(self.groups)
        specs = processes.build_specs(settings, self.groups, self.dags_folder)

        def of(*names: str) -> list[ProcessSpec | Step]:
            return [s for s in specs if s.group in names]

        def step(group: str, name: str, action: Callable[[], None]) -> list[ProcessSpec | Step]:
            return [(name, action)] if group in groups else []

        setup_log = layout.log("setup-bigquery-emulator")
        setup_bigquery = lambda: bigquery_emulator.ensure_installed(setup_log)  # noqa: E731
        return [
            step("bigquery", "setup-bigquery-emulator", setup_bigquery),
            step("postgres", "initdb", lambda: postgres.initdb(layout, layout.log("postgres"))),
            of("postgres", "gcs", "bigquery", "metrics", "broker"),
            step("postgres", "create-database", lambda: postgres.create_database(settings)),
            list(processes.one_shots(settings, self.groups, self.dags_folder)),
            of("airflow"),
            of("workers"),
            step("receiver", "receiver-secrets", lambda: ensure_receiver_secrets(settings)),
            of("receiver"),
        ]  # fmt: skip

    def _loop(self) -> None:
        """Start the plan stage by stage, then keep every child running, until told to stop."""
        plan, stage = self._plan(), list[Child]()
        while not self._stop:
            if self.phase == "starting" and all(c.state in ("ready", "done") for c in stage):
                if plan:
                    stage = self._begin(plan.pop(0))
                    continue
                self.phase, self._ready_seconds = "ready", round(time.monotonic() - self._t0, 1)
                log.info("stack ready in %.1f s", self._ready_seconds)
                self.write_status()
                if self.on_ready is not None:
                    self.on_ready(self.status())
            for child in self.children:
                self._check(child)
            pending = [c.spec.name for c in stage if c.state not in ("ready", "done")]
            late = time.monotonic() > self._t0 + self.startup_timeout
            if self.phase == "starting" and pending and late:
                message = f"not ready after {self.startup_timeout:.0f} s: {', '.join(pending)}"
                raise StackError(message, pending[0])
            time.sleep(POLL_INTERVAL)

    def _begin(self, items: list[ProcessSpec | Step]) -> list[Child]:
        """Run a stage's steps, then launch its processes."""
        stage = []
        for item in items:
            if isinstance(item, ProcessSpec):
                stage.append(Child(item))
                self.children.append(stage[-1])
                self._launch(stage[-1])
                continue
            name, action = item
            t = time.monotonic()
            try:
                action()
            except Exception as exc:
                raise StackError(f"{name} failed: {exc}", name) from exc
            self.steps[name] = round(time.monotonic() - t, 1)
            self.write_status()
        return stage

    def _launch(self, child: Child) -> None:
        spec, layout = child.spec, self.layout
        with layout.log(spec.name).open("ab") as out:
            out.write(f"\n=== {_now_iso()} start: {' '.join(spec.command)}\n".encode())
            out.flush()
            child.popen = subprocess.Popen(
                spec.command, env={**spec.env, OWNER_VAR: str(layout.state_dir)},
                cwd=spec.cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_child_setup(spec, os.getpid()),
            )  # fmt: skip
        try:
            created = psutil.Process(child.popen.pid).create_time()
        except psutil.Error:
            created = time.time()
        layout.pid_file(spec.name).write_text(f"{child.popen.pid} {created}\n")
        child.state, child.started_at, child.started_wall = "starting", time.monotonic(), _now_iso()
        child.ready_since = None
        log.info("started %s (pid %d)", spec.name, child.popen.pid)
        self.write_status()

    def _check(self, child: Child) -> None:
        """One look: a probe passed, an exit (done, failed or restarted), a restart due."""
        now, name = time.monotonic(), child.spec.name
        code = None if child.popen is None else child.popen.poll()
        if child.state in ("starting", "ready") and code is not None:
            child.last_exit = code
            if child.spec.once and code == 0:
                child.state, self.steps[name] = "done", round(now - child.started_at, 1)
                self.write_status()
                return
            if child.spec.once or self.phase == "starting":
                child.state = "failed"
                raise StackError(f"{name} exited with code {code} while starting", name)
            # what it started (Airflow's executor workers, task processes) would outlive it,
            # unseen by `down`, and pile up with each restart: end its session first
            self._kill_session(child.popen.pid if child.popen else 0)
            if child.ready_since is not None and now - child.ready_since > STABLE_AFTER:
                child.restarts = 0
            child.restarts += 1
            if child.restarts > MAX_RESTARTS:
                child.state = "failed"
                log.error("%s exited with %d; gave up after %d restarts", name, code, MAX_RESTARTS)
            else:
                delay = 2.0 ** (child.restarts - 1)
                child.state, child.next_restart = "restarting", now + delay
                log.warning(
                    "%s exited with %d; restart %d/%d in %.0f s",
                    name, code, child.restarts, MAX_RESTARTS, delay,
                )  # fmt: skip
            self.write_status()
        elif child.state == "restarting" and now >= child.next_restart:
            self._launch(child)
        elif child.state == "starting" and not child.spec.once and child.spec.ready():
            child.state, child.ready_since = "ready", now
            log.info("%s ready in %.1f s", name, now - child.started_at)
            self.write_status()

    @staticmethod
    def _kill_session(sid: int) -> None:
        """SIGKILL every process left in the session ``sid`` (its leader has exited)."""
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if proc.pid != os.getpid() and os.getsid(proc.pid) == sid:
                    log.warning(
                        "ending %s (pid %d), left by session %d", proc.name(), proc.pid, sid
                    )
                    proc.kill()

    def _stop_group(self, members: list[Child]) -> None:
        """Send each its stop signal, wait up to the longest stop timeout, then kill its group."""
        running = [c for c in members if c.popen is not None and c.popen.poll() is None]
        for child in running:
            log.info("stopping %s", child.spec.name)
            with contextlib.suppress(ProcessLookupError):
                assert child.popen is not None
                child.popen.send_signal(child.spec.stop_signal)
        deadline = time.monotonic() + max((c.spec.stop_timeout for c in running), default=0)
        for child in members:
            if child.popen is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            # whatever is left of its process group (workers, task processes)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=5)
            if child.state != "failed":
                child.state = "stopped"
        if members:
            self.write_status()

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
            "components": [c.to_json(self.layout) for c in self.children if not c.spec.once],
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
