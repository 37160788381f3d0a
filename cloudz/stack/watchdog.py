"""Clean up after a supervisor that died without stopping its children (``kill -9``).

``PR_SET_PDEATHSIG`` signals every child at once when the supervisor dies, so Postgres stops
while Airflow still needs it: the scheduler then hangs on exit, joining its LocalExecutor
workers, and nothing would ever stop it. The supervisor starts this watchdog first, in its own
session, with the read end of a pipe as stdin; EOF without a ``clean`` line means the supervisor
died, and the watchdog gives the stack a grace period, then kills what is left of it.

Usage: ``python -m cloudz.stack.watchdog STATE_DIR SUPERVISOR_PID GRACE_SECONDS``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import psutil

from cloudz.stack.layout import Layout
from cloudz.stack.supervisor import forget_pid_files, owned_processes

log = logging.getLogger("cloudz.stack.watchdog")


def main() -> None:
    state_dir, supervisor_pid, grace = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s watchdog %(levelname)s %(message)s")
    if sys.stdin.buffer.read().endswith(b"clean\n"):  # read returns at EOF
        return
    log.warning("supervisor %d died: cleaning up its processes", supervisor_pid)
    deadline = time.monotonic() + grace
    while (procs := owned_processes(state_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            log.warning("killing leftover pid %d (%s)", proc.pid, " ".join(proc.cmdline())[:120])
            proc.kill()
    psutil.wait_procs(procs, timeout=5)
    forget_pid_files(Layout(state_dir), supervisor_pid)
    log.info("done")


if __name__ == "__main__":
    main()
