"""Where the stack keeps its state, so every module agrees on one layout under ``state_dir``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloudz.settings import PROJECT_ROOT, Settings

#: the BigQuery emulator's own venv (Python 3.13), made by ``scripts/setup-bigquery-emulator``
BQ_VENV = PROJECT_ROOT / ".venv-bq"
BQ_SETUP_SCRIPT = PROJECT_ROOT / "scripts" / "setup-bigquery-emulator"


@dataclass(frozen=True)
class Layout:
    """Paths of one stack's state directory."""

    state_dir: Path

    @classmethod
    def of(cls, settings: Settings) -> Layout:
        return cls(settings.state_dir)

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def run(self) -> Path:
        """Postgres' unix socket, one pid file per process and the supervisor's status."""
        return self.state_dir / "run"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def gcs(self) -> Path:
        return self.state_dir / "gcs"

    @property
    def bigquery(self) -> Path:
        return self.state_dir / "bigquery"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def supervisor_pid(self) -> Path:
        return self.state_dir / "supervisor.pid"

    @property
    def status_file(self) -> Path:
        return self.run / "status.json"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def make_dirs(self) -> None:
        """Create the directories; the state dir must be searchable by the Postgres user."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o755)
        for path in (self.logs, self.gcs, self.bigquery, self.airflow_home):
            path.mkdir(exist_ok=True)
