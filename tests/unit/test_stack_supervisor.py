"""The supervisor's one loop on small real processes: stages wait for the one before, a
one-shot gates the next stage, a dead child is restarted, a failed one-shot fails the start.

The full stack's lifecycle (Postgres, Airflow, the emulators) is tests/stack/test_stack.py;
these run in seconds, so the loop's rules are checked on every unit run.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudz.settings import Settings
from cloudz.stack.layout import Layout
from cloudz.stack.processes import ProcessSpec
from cloudz.stack.supervisor import Step, Supervisor, owned_processes, read_status

#: hang guard only: nothing here is a performance expectation
GUARD_SECONDS = 120.0


@dataclass
class Planned(Supervisor):
    """A supervisor whose plan is given, instead of the stack's."""

    stages: list[list[ProcessSpec | Step]] = field(default_factory=list)

    def _plan(self) -> list[list[ProcessSpec | Step]]:
        return self.stages


def python(
    name: str, group: str, code: str, ready: Callable[[], bool], once: bool = False
) -> ProcessSpec:
    command = [sys.executable, "-c", code]
    return ProcessSpec(name, group, command, dict(os.environ), ready, stop_timeout=5, once=once)


def test_a_stage_starts_once_the_one_before_is_ready_and_a_dead_child_comes_back(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "server-ready"
    # the server becomes ready only after a while; the one-shot fails if it runs before that
    server = python(
        "server", "gcs",
        f"import pathlib as p, time; time.sleep(1); p.Path({str(flag)!r}).touch(); time.sleep(600)",
        flag.exists,
    )  # fmt: skip
    check = python(
        "check", "gcs",
        f"import pathlib, sys; sys.exit(0 if pathlib.Path({str(flag)!r}).exists() else 3)",
        lambda: False, once=True,
    )  # fmt: skip
    last = python("last", "receiver", "import time; time.sleep(600)", lambda: True)
    steps: list[str] = []
    killed: list[int] = []

    def on_ready(status: dict[str, Any]) -> None:
        (entry,) = (c for c in status["components"] if c["name"] == "last")
        os.kill(entry["pid"], signal.SIGKILL)
        killed.append(entry["pid"])
        threading.Thread(target=stop_once_restarted, daemon=True).start()

    def stop_once_restarted() -> None:
        deadline = time.monotonic() + GUARD_SECONDS
        while time.monotonic() < deadline:
            child = next(c for c in sup.children if c.spec.name == "last")
            if child.restarts == 1 and child.state == "ready":
                break
            time.sleep(0.1)
        sup._stop = True

    sup = Planned(
        Settings(state_dir=tmp_path / "state"),
        groups=(),
        on_ready=on_ready,
        startup_timeout=GUARD_SECONDS,
        stages=[[server], [("a-step", lambda: steps.append("ran"))], [check], [last]],
    )
    assert sup.run() == 0
    assert steps == ["ran"]
    assert sup.steps.keys() == {"a-step", "check"}
    status = read_status(Layout(tmp_path / "state"))
    assert status is not None and status["phase"] == "stopped"
    comps = {c["name"]: c for c in status["components"]}
    assert set(comps) == {"server", "last"}  # a one-shot is a step, not a component
    assert comps["last"]["restarts"] == 1 and comps["last"]["pid"] != killed[0]
    assert comps["last"]["last_exit"] == -signal.SIGKILL
    assert not owned_processes(tmp_path / "state")


def test_a_failing_one_shot_fails_the_start_and_stops_what_was_started(tmp_path: Path) -> None:
    server = python("server", "gcs", "import time; time.sleep(600)", lambda: True)
    broken = python("broken", "airflow", "import sys; sys.exit(3)", lambda: False, once=True)
    never = python("never", "receiver", "import time; time.sleep(600)", lambda: True)
    sup = Planned(
        Settings(state_dir=tmp_path / "state"),
        groups=(),
        startup_timeout=GUARD_SECONDS,
        stages=[[server], [broken], [never]],
    )
    assert sup.run() == 1
    assert sup.failed_component == "broken"
    assert sup.error == "broken exited with code 3 while starting"
    status = read_status(Layout(tmp_path / "state"))
    assert status is not None and status["phase"] == "failed"
    assert [c["name"] for c in status["components"]] == ["server"]
    assert status["components"][0]["state"] == "stopped"
    assert not owned_processes(tmp_path / "state")
