"""The BigQuery emulator (local-bigquery) in its own Python 3.13 venv, ``.venv-bq``.

It needs Python >= 3.13 and a FastAPI that clashes with Airflow's, hence the separate venv; its
DuckDB must find extensions offline, hence ``HOME`` pointing at the venv's ``duckdb-home``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.stack.layout import BQ_SETUP_SCRIPT, BQ_VENV, Layout

#: variables of the Airflow venv that must not leak into another interpreter
_FOREIGN_PYTHON_VARS = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")


def executable(venv: Path = BQ_VENV) -> Path:
    return venv / "bin" / "local-bigquery"


def duckdb_home(venv: Path = BQ_VENV) -> Path:
    return venv / "duckdb-home"


def ensure_installed(log_path: Path) -> None:
    """Run the (idempotent, stamp-guarded) setup script; it returns at once when up to date."""
    with log_path.open("ab") as log:
        result = subprocess.run(
            ["bash", str(BQ_SETUP_SCRIPT)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"{BQ_SETUP_SCRIPT.name} failed; see {log_path}")


#: ends the jobs a killed emulator left RUNNING, then execs the emulator (see the script)
SERVE_SCRIPT = PROJECT_ROOT / "scripts" / "bigquery-emulator-serve"


def command(settings: Settings) -> list[str]:
    return [
        str(executable().with_name("python")),
        str(SERVE_SCRIPT),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.bigquery_port),
        "--grpc-port",
        str(settings.bigquery_grpc_port),
        "--data-dir",
        str(Layout.of(settings).bigquery),
        "--project",
        settings.gcp_project,
    ]


def environment(settings: Settings) -> dict[str, str]:
    """The full environment of the emulator process (HOME for DuckDB's extension lookup)."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_PYTHON_VARS}
    env["HOME"] = str(duckdb_home())
    env["STORAGE_EMULATOR_HOST"] = settings.gcs_url
    return env
