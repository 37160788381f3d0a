"""A stack of the bench's own: ``cloudz-stack up`` in a fresh state dir on free ports, then down.

Like the e2e tests' stacks (``tests/e2e/stack_session.py``), so a bench can run beside any other
stack on the machine; while it runs, the Google clients of this process talk to its emulators.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cloudz.settings import Settings
from harness.places import BIN, tests_on_path

#: the variables the Google clients follow, pointed at the stack's emulators while it runs
EMULATOR_VARS = ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST")


@dataclass
class OwnStack:
    """A running stack: its state dir, the environment that names it, its settings."""

    state_dir: Path
    env: dict[str, str]
    settings: Settings
    up_seconds: float = 0.0

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """A command in the stack's environment, its output captured."""
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP (and UDP) ports on loopback that were free a moment ago."""
    tests_on_path()
    from free_ports import free_ports as pick

    return pick(n)


def stack_env(state_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with a state dir, a free port for every component, ``extra``."""
    tests_on_path()
    from free_ports import stack_ports_env

    return {**os.environ, **stack_ports_env(state_dir), **(extra or {})}


@contextlib.contextmanager
def own_stack(
    extra_env: Mapping[str, str] | None = None,
    *,
    prefix: str = "cloudz-bench-",
    receivers: bool = True,
    keep: bool = False,
    startup_timeout: float = 600.0,
) -> Iterator[OwnStack]:
    """Start a stack (without receivers unless ``receivers``), yield it, stop it; its state dir
    is removed unless ``keep`` (or ``down`` failed). ``startup_timeout``: ``up --timeout``, longer
    than its default 240 s, which Airflow's migration alone outlasted on the shared machine."""
    # not a 0700 temp dir: PostgreSQL runs as nobody when the bench runs as root
    state_dir = Path(tempfile.mkdtemp(prefix=prefix))
    state_dir.chmod(0o755)
    env = stack_env(state_dir, extra_env)
    stack = OwnStack(state_dir, env, Settings.from_env(env))
    cloudz_stack = str(BIN / "cloudz-stack")
    cmd = [cloudz_stack, "up", "--timeout", str(startup_timeout)]
    cmd += [] if receivers else ["--without", "receiver"]
    print(f"starting a stack in {state_dir} ...", flush=True)
    t0 = time.monotonic()
    up = stack.run(*cmd, timeout=startup_timeout + 300)
    stack.up_seconds = time.monotonic() - t0
    if up.returncode != 0:
        stack.run(cloudz_stack, "down", timeout=300)
        raise SystemExit(f"cloudz-stack up failed:\n{up.stdout}\n{up.stderr}")
    print(f"stack up in {stack.up_seconds:.0f} s (Airflow at {stack.settings.airflow_url})")
    saved = {k: os.environ.get(k) for k in EMULATOR_VARS}
    for k in saved:
        os.environ[k] = env[k]
    try:
        yield stack
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        down = stack.run(cloudz_stack, "down", timeout=300)
        if down.returncode != 0:
            print(f"cloudz-stack down failed ({down.returncode}); state kept in {state_dir}")
            print(down.stdout, down.stderr)
        elif keep:
            print(f"state dir kept: {state_dir}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)
