"""``cloudz-stack``: start, watch and stop the embedded local stack.

``up`` runs ``cloudz-stack run`` in the background and waits for it to report ready (or
failed) through ``run/status.json``; ``run`` is the supervisor itself, in the foreground.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import click
import psutil

from cloudz.settings import Settings
from cloudz.stack import airflow_env, processes
from cloudz.stack.layout import Layout
from cloudz.stack.supervisor import (
    StackError,
    Supervisor,
    forget_pid_files,
    leftovers,
    owned_processes,
    read_status,
    running_supervisor,
    terminate_owned,
)
from cloudz.stack.work_bucket import with_work_bucket

DEFAULT_TIMEOUT = 240.0
STOP_TIMEOUT = 120.0


def _groups(without: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(g for g in processes.GROUPS if g not in without)


def tail(path: Path, lines: int) -> list[str]:
    try:
        with path.open(errors="replace") as f:
            return list(deque(f, maxlen=lines))
    except FileNotFoundError:
        return []


def format_table(status: dict[str, Any]) -> str:
    """One line per component: pid, ports, state, start-to-ready time, restarts."""
    rows = [("COMPONENT", "PID", "PORTS", "STATE", "READY IN", "RESTARTS")]
    for comp in status["components"]:
        ports = ",".join(str(p) for p in comp["ports"]) or "-"
        ready_in = "-" if comp["ready_seconds"] is None else f"{comp['ready_seconds']:.1f} s"
        pid, restarts = str(comp["pid"] or "-"), str(comp["restarts"])
        rows.append((comp["name"], pid, ports, comp["state"], ready_in, restarts))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    if steps := status["steps"]:
        lines.append("steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    if status["ready_seconds"] is not None:
        lines.append(f"stack ready in {status['ready_seconds']:.1f} s")
    return "\n".join(line.rstrip() for line in lines)


def _settings() -> Settings:
    with_work_bucket(os.environ)  # every process of the stack inherits it
    return Settings.from_env()


def _print_failure(layout: Layout, status: dict[str, Any] | None, lines: int = 40) -> None:
    component = (status or {}).get("failed_component")
    if status and status.get("error"):
        click.echo(f"error: {status['error']}", err=True)
    for name in [component, "supervisor"] if component else ["supervisor"]:
        content = tail(layout.log(name), lines)
        if content:
            click.echo(f"--- last {len(content)} lines of {layout.log(name)}", err=True)
            click.echo("".join(content).rstrip("\n"), err=True)


@click.group()
def main() -> None:
    """Run Postgres, the GCS/BigQuery emulators, Airflow and the receivers on this machine."""


_without_option = click.option(
    "--without",
    multiple=True,
    type=click.Choice(processes.GROUPS),
    help="Leave out a component group (repeatable), e.g. --without receiver.",
)
_dags_option = click.option(
    "--dags-folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Airflow's DAGs folder (default: <repo>/dags).",
)


def _pick_executor(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:  # every process of the stack reads it from the environment (Settings)
        os.environ["CLOUDZ_EXECUTOR"] = value
    return value


_executor_option = click.option(
    "--executor",
    type=click.Choice(["local", "celery"]),
    default=None,
    expose_value=False,
    callback=_pick_executor,
    help="Airflow's executor (default: CLOUDZ_EXECUTOR, else local); celery adds a Valkey "
    "broker and the CLOUDZ_CELERY_WORKERS workers.",
)
_timeout_option = click.option(
    "--timeout",
    type=float,
    default=DEFAULT_TIMEOUT,
    envvar="CLOUDZ_STACK_TIMEOUT",  # a slower machine's tests set it once for every `up`
    show_default=True,
    help="Seconds for everything to get ready (or CLOUDZ_STACK_TIMEOUT).",
)


@main.command()
@_without_option
@_dags_option
@_executor_option
@_timeout_option
def run(without: tuple[str, ...], dags_folder: Path | None, timeout: float) -> None:
    """Start the stack in the foreground; Ctrl-C stops everything."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    supervisor = Supervisor(
        _settings(),
        groups=_groups(without),
        dags_folder=dags_folder.resolve() if dags_folder else None,
        startup_timeout=timeout,
        on_ready=lambda status: click.echo(format_table(status)),
    )
    try:
        code = supervisor.run()
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@main.command()
@_without_option
@_dags_option
@_executor_option
@_timeout_option
def up(without: tuple[str, ...], dags_folder: Path | None, timeout: float) -> None:
    """Start the stack in the background and wait until it is ready."""
    settings = _settings()
    layout = Layout.of(settings)
    if problems := leftovers(settings, _groups(without)):
        hint = "run `cloudz-stack down` (or stop what holds the port) first"
        raise click.ClickException("refusing to start:\n  " + "\n  ".join(problems) + f"\n{hint}")
    layout.make_dirs()
    layout.status_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "cloudz.stack.cli", "run", "--timeout", str(timeout)]
    for group in without:
        command += ["--without", group]
    if dags_folder is not None:
        command += ["--dags-folder", str(dags_folder.resolve())]
    env = {**os.environ, "PYTHONPATH": airflow_env.python_path(os.environ.get("PYTHONPATH"))}
    with layout.log("supervisor").open("ab") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    click.echo(f"supervisor started (pid {proc.pid}), logs in {layout.logs}")
    deadline = time.monotonic() + timeout + 60
    while proc.poll() is None and time.monotonic() < deadline:
        status = read_status(layout) or {}
        phase = status.get("phase") if status.get("supervisor_pid") == proc.pid else None
        if phase == "ready":
            click.echo(format_table(status))
            return
        if phase == "failed":
            break  # it stops what it started by itself
        time.sleep(0.25)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
    _print_failure(layout, read_status(layout))
    raise click.ClickException("the stack did not get ready (stopped again)")


@main.command()
@click.option("--timeout", type=float, default=STOP_TIMEOUT, show_default=True)
def down(timeout: float) -> None:
    """Stop the stack cleanly (receivers first, Postgres last) and wait for it."""
    layout = Layout.of(_settings())
    pid = running_supervisor(layout)
    if pid is not None:
        click.echo(f"stopping supervisor (pid {pid}) ...")
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except psutil.TimeoutExpired:
            click.echo("supervisor did not stop in time: SIGKILL", err=True)
            proc.kill()
    swept = terminate_owned(layout.state_dir)
    forget_pid_files(layout, pid)
    if swept:
        click.echo(f"stopped {len(swept)} leftover processes: {swept}")
    click.echo("stack stopped" if pid is not None or swept else "nothing is running")


@main.command()
def status() -> None:
    """Show each component's pid, ports and live readiness; exit 0 only if all are ready."""
    settings = _settings()
    layout = Layout.of(settings)
    pid = running_supervisor(layout)
    current = read_status(layout)
    if pid is None or current is None or current.get("supervisor_pid") != pid:
        others = owned_processes(layout.state_dir)
        message = "stack is not running"
        if others:
            message += f" ({len(others)} leftover processes: run `cloudz-stack down`)"
        click.echo(message)
        sys.exit(1)
    ready = current["phase"] == "ready" and bool(current["components"])
    for comp in current["components"]:  # probed now: the state last written may be stale
        alive = comp["pid"] is not None and psutil.pid_exists(comp["pid"])
        live = alive and processes.probe(settings, comp["name"])()
        comp["state"] = "ready" if live else f"NOT READY ({comp['state']})"
        ready = ready and live
    click.echo(f"supervisor pid {pid}, phase {current['phase']}, state dir {layout.state_dir}")
    click.echo(format_table(current))
    sys.exit(0 if ready else 1)


@main.command()
@click.argument("component", required=False)
@click.option("-n", "--lines", type=int, default=50, show_default=True)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (one component).")
def logs(component: str | None, lines: int, follow: bool) -> None:
    """Print the end of a component's log (all logs without a component), with ``tail``."""
    layout = Layout.of(_settings())
    paths = sorted(layout.logs.glob("*.log"))
    if component is not None:
        if layout.log(component) not in paths:
            known = ", ".join(p.stem for p in paths)
            raise click.ClickException(f"no log for {component!r}; known: {known or 'none'}")
        paths = [layout.log(component)]
    elif follow:
        raise click.UsageError("--follow needs a component")
    if paths:
        os.execvp("tail", ["tail", "-n", str(lines), *(["-f"] if follow else []), *map(str, paths)])


if __name__ == "__main__":
    main()
