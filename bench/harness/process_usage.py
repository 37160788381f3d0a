"""CPU and peak memory: of one child process (``os.wait4``) and of every process of a stack.

``os.wait4`` gives a child's own resource usage (user and system CPU, peak RSS) and nothing of
its siblings; the child is spawned by a small trampoline, not by the bench, whose own peak RSS
Linux would count as the child's. A stack's processes are not this process's children, so they
are sampled from ``/proc`` (RSS) and ``psutil`` (CPU) while the bench runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

#: a process's role from its command line (joined by spaces); None: not one to count
RoleOf = Callable[[str], str | None]


# --- one child --------------------------------------------------------------------------------
#: Spawns ``argv[2:]``, waits for it and writes its exit code, wall time and ``wait4`` usage to
#: the fd ``argv[1]``, from a fresh interpreter without site packages (a few MiB): Linux counts
#: the peak RSS of the memory a process was exec'd from into its ``ru_maxrss``, and a child
#: spawned by the bench itself would report the bench's peak (170 MiB for a 27 MiB converter).
TRAMPOLINE = """
import os, sys, time
fd = int(sys.argv[1])
os.set_inheritable(fd, False)
t = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, r = os.wait4(pid, 0)
s = time.perf_counter() - t
with open("/proc/self/status") as f:
    own = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
figures = (os.waitstatus_to_exitcode(status), s, r.ru_utime, r.ru_stime, r.ru_maxrss,
           r.ru_minflt, own)
os.write(fd, " ".join(map(str, figures)).encode())
"""


@dataclass(frozen=True)
class ChildRun:
    """What one child process did: exit code, wall time, its own CPU and peak RSS, output."""

    returncode: int
    seconds: float
    user: float
    system: float
    maxrss_kib: int
    minor_faults: int
    stdout: str
    stderr: str
    #: the peak RSS of the trampoline's memory the child was spawned from (a few MiB):
    #: ``maxrss_kib`` is never below it, so a figure near it says "at most this"
    spawner_kib: int = 0

    @property
    def cpu(self) -> float:
        """user + system CPU seconds of the child alone"""
        return self.user + self.system

    @property
    def maxrss_mib(self) -> float:
        return self.maxrss_kib / 1024


def run_measured(
    argv: Sequence[str],
    *,
    core: int | str | None = None,
    discard_stdout: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> ChildRun:
    """Run ``argv`` (pinned to ``core`` with ``taskset -c`` when given) and measure it: wall
    time, CPU and peak RSS of that child alone (``os.wait4`` in ``TRAMPOLINE``).

    Output goes to temporary files, not pipes, so a chatty child never blocks on a full pipe
    while the parent waits for it; ``check``: a non-zero exit raises ``RuntimeError``.
    """
    if core is not None:
        argv = ["taskset", "-c", str(core), *argv]
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", TRAMPOLINE, str(write_end), *argv],
                stdout=subprocess.DEVNULL if discard_stdout else out,
                stderr=err,
                env=None if env is None else dict(env),
                cwd=cwd,
                pass_fds=(write_end,),
            )
            os.close(write_end)
            with os.fdopen(read_end, "rb") as figures:
                said = figures.read().decode().split()
        finally:
            with contextlib.suppress(OSError):
                os.close(write_end)
        proc.wait()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if len(said) != 7:  # the trampoline could not start the child: its traceback
        raise RuntimeError(f"{list(argv)} did not start: {stderr[-2000:]}")
    code, seconds, user, system, maxrss, faults, own = said
    run = ChildRun(
        returncode=int(code),
        seconds=float(seconds),
        user=float(user),
        system=float(system),
        maxrss_kib=int(maxrss),
        minor_faults=int(faults),
        stdout=stdout,
        stderr=stderr,
        spawner_kib=int(own),
    )
    if check and run.returncode != 0:
        raise RuntimeError(f"{list(argv)} exited {run.returncode}: {run.stderr[-2000:]}")
    return run


# --- a stack's processes ----------------------------------------------------------------------
def first_needle(needles: Sequence[tuple[str, str]], cmdline: str) -> str | None:
    """The name of the first ``(needle, name)`` whose needle is in ``cmdline``; None: none is."""
    return next((name for needle, name in needles if needle in cmdline), None)


def cmdline(pid: int) -> str:
    """``/proc/<pid>/cmdline`` joined by spaces; empty once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def rss_kib(pid: int) -> int:
    """The process's resident memory now (``VmRSS``), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """The highest RSS seen per role (any one process of it) and per role summed.

    Every process of the machine is looked at every ``interval`` s and counted under the role
    ``role_of`` gives its command line (none: not counted), so a short-lived process is seen
    when it lives across a sample.
    """

    def __init__(self, role_of: RoleOf, interval: float = 0.25) -> None:
        self.role_of = role_of
        self.interval = interval
        self.peak: dict[str, int] = {}
        self.peak_sum: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> None:
        me = os.getpid()
        sums: dict[str, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            pid = int(entry.name)
            role = self.role_of(cmdline(pid))
            if role is None:
                continue
            rss = rss_kib(pid)
            self.peak[role] = max(self.peak.get(role, 0), rss)
            sums[role] = sums.get(role, 0) + rss
        for role, total in sums.items():
            self.peak_sum[role] = max(self.peak_sum.get(role, 0), total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def stack_processes(state_dir: Path, extra_pids: Iterable[int] = ()) -> list[psutil.Process]:
    """The live processes of the stack of ``state_dir``, and those of ``extra_pids``."""
    from cloudz.stack.supervisor import owned_processes

    procs = owned_processes(state_dir)
    for pid in extra_pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    return procs


def cpu_by_role(state_dir: Path, role_of: Callable[[str], str]) -> dict[str, float]:
    """User + system CPU seconds each role of the stack's live processes has used so far."""
    out: dict[str, float] = defaultdict(float)
    for proc in stack_processes(state_dir):
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        try:
            command = " ".join(proc.cmdline())
        except psutil.Error:
            command = ""
        out[role_of(command)] += t.user + t.system
    return out


class CpuSampler:
    """User + system CPU of every process of a stack (and ``extra_pids``) over a window, by name.

    Processes are sampled every ``interval`` s and each keeps its last value once gone, so a
    short-lived process loses at most its last interval. Children's reaped CPU is not added
    (it would count a task twice: alive in a sample, then in its parent's total).
    """

    def __init__(
        self,
        state_dir: Path,
        name_of: Callable[[str], str],
        extra_pids: Sequence[int] = (),
        interval: float = 0.5,
    ) -> None:
        self.state_dir = state_dir
        self.name_of = name_of
        self.extra_pids = set(extra_pids)
        self.interval = interval
        self._t0 = 0.0
        self._seen: dict[tuple[int, float], tuple[str, float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def _sample(self) -> None:
        for proc in stack_processes(self.state_dir, self.extra_pids):
            try:
                key = (proc.pid, proc.create_time())
                t = proc.cpu_times()
                used = t.user + t.system
                if key in self._seen:
                    name, first, _ = self._seen[key]
                else:
                    # a process alive before the window counts from its first sample
                    name = self.name_of(" ".join(proc.cmdline()))
                    first = used if key[1] < self._t0 else 0.0
                self._seen[key] = (name, first, used)
            except psutil.Error:
                continue

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._t0 = time.time()
        self._sample()
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds per name over the window, most first."""
        self._stop.set()
        self._thread.join()
        self._sample()
        out: dict[str, float] = defaultdict(float)
        for name, first, last in self._seen.values():
            out[name] += last - first
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))
