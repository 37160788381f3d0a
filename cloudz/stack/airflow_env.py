"""The environment of every Airflow process of the stack, and of tests that use its database.

One function builds it so the api-server, scheduler, dag-processor, triggerer, ``airflow db
migrate`` and a test's ``dag.test()`` all agree on the metadata DB, the secrets and the emulators.
Secrets are generated once into the state dir: the api-server signs task JWTs the workers check,
and sessions and encrypted connections must survive a restart.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import tempfile
from pathlib import Path

from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.stack import celery, postgres
from cloudz.stack.layout import Layout

SECRETS_FILE = "cloudz-secrets.json"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)


def _write_once(path: Path, content: str) -> None:
    """Create ``path`` atomically unless it exists, so concurrent callers agree on one value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _write_if_changed(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == content:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def stack_secrets(airflow_home: Path) -> dict[str, str]:
    """JWT secret, API secret key and Fernet key, generated on first use and then kept."""
    path = airflow_home / SECRETS_FILE
    generated = {
        "jwt_secret": secrets.token_urlsafe(48),
        "api_secret_key": secrets.token_urlsafe(48),
        "fernet_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "broker_password": secrets.token_hex(24),
    }
    if not path.exists():
        _write_once(path, json.dumps(generated, indent=2) + "\n")
    loaded: dict[str, str] = json.loads(path.read_text())
    if generated.keys() - loaded.keys():
        # a state dir from before a secret existed: add it, keep the others (one writer at once)
        with (airflow_home / f".{SECRETS_FILE}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            loaded = json.loads(path.read_text())
            missing = {k: v for k, v in generated.items() if k not in loaded}
            if missing:
                _write_if_changed(path, json.dumps({**loaded, **missing}, indent=2) + "\n")
                loaded.update(missing)
    return loaded


def write_passwords_file(settings: Settings, airflow_home: Path) -> Path:
    """Pre-write SimpleAuthManager's passwords so they come from settings, not generated ones."""
    path = airflow_home / PASSWORDS_FILE
    passwords = {"admin": settings.airflow_admin_password}
    passwords[settings.airflow_user] = settings.airflow_password
    _write_if_changed(path, json.dumps(passwords, indent=2) + "\n")
    return path


def emulator_env(settings: Settings) -> dict[str, str]:
    """What Google clients need to talk to the emulators instead of Google."""
    return {
        "STORAGE_EMULATOR_HOST": settings.gcs_url,
        "BIGQUERY_EMULATOR_HOST": settings.bigquery_url,
    }


#: holds ``airflow_local_settings.py``, which Airflow imports from ``sys.path``
AIRFLOW_CONFIG_DIR = PROJECT_ROOT / "include" / "airflow_config"


def python_path(extra: str | None = None, *, airflow: bool = False) -> str:
    """The repository root first, so DAGs and ``-m ingest_service.server`` import ``cloudz``;
    for Airflow's processes also the folder of ``airflow_local_settings.py``."""
    parts = [str(PROJECT_ROOT)]
    if airflow:
        parts.append(str(AIRFLOW_CONFIG_DIR))
    if extra:
        parts.extend(p for p in extra.split(os.pathsep) if p and p not in parts)
    return os.pathsep.join(parts)


def parallelism(settings: Settings) -> int:
    """Task slots of the executor: ``airflow_parallelism``, or 4 per core.

    A per-file task spends most of its time waiting on the object store and BigQuery (a load
    job is a few seconds of waiting), so a core carries about four of them; past that, task
    start-ups (a fork and a parse each) compete for the cores with the work.
    """
    return settings.airflow_parallelism or 4 * len(os.sched_getaffinity(0))


def table_writes_pool(settings: Settings) -> tuple[str, int, str]:
    """The pool every write into the routes table takes a slot of: (name, slots, description).

    BigQuery allows 50 table writes (loads and DML) per 10 s per table; a load job takes
    seconds, so 16 concurrent loads stay well below that rate and leave room for others.
    """
    return (
        settings.table_writes_pool,
        settings.table_writes_slots,
        "loads into the routes table (BigQuery: 50 table writes per 10 s per table)",
    )


def rib_pool(settings: Settings) -> tuple[str, int, str] | None:
    """The pool of RIB conversions (the cluster policy puts them there), or None without one.

    Its slots are those of the Celery workers serving the RIB queue: the scheduler then
    queues no more RIBs than they can run, and the rest wait as *scheduled*, holding no
    executor slot an update file could use. With the LocalExecutor, half its slots.
    """
    if not settings.rib_pool:
        return None
    slots = settings.rib_slots
    if not slots and celery.uses_celery(settings) and settings.rib_queue:
        serving = [
            w for w in celery.workers(settings, parallelism(settings))
            if settings.rib_queue in w.queues
        ]  # fmt: skip
        if not serving:
            raise ValueError(
                f"no worker of CLOUDZ_CELERY_WORKERS={settings.celery_workers!r} serves the "
                f"RIB queue {settings.rib_queue!r}: RIB conversions would never run"
            )
        slots = sum(w.concurrency for w in serving)
    if not slots:
        slots = max(1, parallelism(settings) // 2)
    return (settings.rib_pool, slots, "RIB conversions (the slots of the workers serving them)")


def backfill_pool(settings: Settings) -> tuple[str, int, str]:
    """The pool of mirror and backfill conversions: (name, slots, description)."""
    return (
        settings.backfill_pool,
        settings.backfill_slots,
        "mirror and backfill conversions (live uploads never wait for these slots)",
    )


def airflow_env(settings: Settings, dags_folder: Path | None = None) -> dict[str, str]:
    """The variables (on top of ``os.environ``) of every Airflow process of this stack.

    Writes the secrets and passwords files under ``state_dir/airflow`` if missing.
    ``dags_folder`` defaults to ``<repo>/dags``; tests point it at a throwaway folder.
    """
    home = Layout.of(settings).airflow_home
    keys = stack_secrets(home)
    passwords = write_passwords_file(settings, home)
    db_url = postgres.sqlalchemy_url(settings)
    gcp_conn = {
        "conn_type": "google_cloud_platform",
        "extra": {"is_anonymous": True, "project": settings.gcp_project},
    }
    env = settings.to_env()
    env.update(emulator_env(settings))
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": python_path(os.environ.get("PYTHONPATH"), airflow=True),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"admin:admin,{settings.airflow_user}:user",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": db_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__BASE_URL": settings.airflow_url,
            "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            # docs/stack.md "Sizing": latency against the scheduler's idle CPU
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism(settings)),
            # Airflow's default of 16 would cap the per-file DAG below the executor's slots
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism(settings)),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": settings.statsd_host,
            "AIRFLOW__METRICS__STATSD_PORT": str(settings.statsd_port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            # tags in the name (``ti.finish,dag_id=…,task_id=…,state=…``): the StatsD bridge
            # makes them labels; the legacy names (one metric per DAG, task and state, the same
            # numbers again) are then left out
            "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
            "AIRFLOW__METRICS__LEGACY_NAMES_ON": "False",
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(gcp_conn, separators=(",", ":")),
            # the maintenance DAG's `db clean` (dags/mrt_maintenance.py): a task has no DB URL
            "AIRFLOW_CONN_CLOUDZ_METADATA_DB": json.dumps(
                {"conn_type": "generic", "extra": {"sqlalchemy_url": db_url}}, separators=(",", ":")
            ),
            # a task whose process died (a killed worker) is retried after this, not 300 s
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(
                celery.TASK_HEARTBEAT_TIMEOUT
            ),
        }
    )
    if celery.uses_celery(settings):
        env.update(celery.airflow_celery_env(settings, keys["broker_password"]))
        # workers on one machine are told apart by name (docs/stack.md "Celery")
        env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "cloudz.stack.celery.worker_hostname"
    return env
