"""Clean up after a supervisor that died without stopping its children (``kill -9``).

``PR_SET_PDEATHSIG`` signals every child at once when the supervisor dies, so Postgres stops
while Airflow still needs it: the scheduler then hangs on exit, joining its LocalExecutor
workers, and nothing would ever stop it. The supervisor starts this watchdog first, in its own
session, with the read end of a pipe as stdin; EOF without a ``clean`` line means the supervisor
died, and the watchdog gives the stack a grace period, then kills what is left of it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path

import psutil

from cloudz.stack.layout import Layout
from cloudz.stack.supervisor import forget_pid_files, owned_processes, read_pid

log = logging.getLogger("cloudz.stack.watchdog")
CLEAN = b"clean\n"


def clean_up(layout: Layout, grace: float) -> None:
    """Wait ``grace`` seconds for the stack's processes to exit, then SIGKILL the rest."""
    deadline = time.monotonic() + grace
    procs = owned_processes(layout.state_dir)
    while procs and time.monotonic() < deadline:
        time.sleep(0.5)
        procs = owned_processes(layout.state_dir)
    for proc in procs:
        log.warning("killing leftover pid %d (%s)", proc.pid, " ".join(proc.cmdline())[:120])
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--supervisor-pid", type=int, required=True)
    parser.add_argument("--grace", type=float, default=15.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s watchdog %(levelname)s %(message)s")
    received = sys.stdin.buffer.read()  # returns at EOF: the supervisor exited or closed it
    if received.endswith(CLEAN):
        return
    layout = Layout(args.state_dir)
    log.warning("supervisor %d died: cleaning up its processes", args.supervisor_pid)
    clean_up(layout, args.grace)
    forget_pid_files(layout)
    with contextlib.suppress(FileNotFoundError):
        if read_pid(layout.supervisor_pid) == args.supervisor_pid:
            layout.supervisor_pid.unlink()
    log.info("done")


if __name__ == "__main__":
    main()
