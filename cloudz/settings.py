"""Every setting of the project, read from the environment in one place.

Each process (receiver, DAG tasks, stack supervisor, tests) builds a
``Settings`` from ``os.environ``; nothing else reads ``CLOUDZ_*`` variables.
Defaults describe the embedded local stack, so a fresh checkout runs with no
configuration at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_state_dir() -> Path:
    return PROJECT_ROOT / ".state"


@dataclass(frozen=True)
class Settings:
    """Names, ports and places shared by the receiver, the DAG and the stack."""

    state_dir: Path = field(default_factory=_default_state_dir)
    gcp_project: str = "local-project"
    bucket: str = "routeviews-archive"
    #: the private bucket of the pipeline's working prefixes (``_incoming/`` staging,
    #: ``_claims/`` publishing claims, ``_loads/`` load claims), apart from the archive bucket
    #: so that one can be public; empty: the archive bucket itself (``working_bucket``)
    work_bucket: str = ""
    dataset: str = "routeviews"
    table: str = "routes"
    #: the datasets' BigQuery location (e.g. ``us-east1``); empty: the US or EU multi-region
    bigquery_location: str = ""
    #: MiB per Avro part of a file's converted rows (``<path>.avro``, ``<path>.avro-0001.avro``
    #: ...; one load job reads them all): the local object store holds an object it is
    #: writing in memory, ~4x its size (``cloudz.file_pipeline.avro_parts``)
    avro_part_mb: int = 64
    #: the files catalog (``cloudz.warehouse.file_catalog``), beside the routes table
    files_table: str = "files"
    #: per collector, day and kind: files expected, archived, the newest, flags
    #: (``cloudz.warehouse.coverage_table``, written by the reconcile DAG)
    coverage_table: str = "coverage"
    #: the audit of ``cloudz-quarantine`` (``cloudz.quarantine.audit``): operations, private
    quarantine_table: str = "quarantine"
    #: the days of file names each reconcile run looks at (today and the days before)
    reconcile_lookback_days: int = 3
    #: an archived file younger than this is left to its own run by the reconcile
    reconcile_settle_minutes: int = 60
    #: a per-file run queued or running for longer than this is reported stuck
    reconcile_stuck_minutes: int = 240
    #: where ``upload-to-cloudz`` and the replicas meet
    receiver_host: str = "127.0.0.1"
    receiver_port: int = 50051
    receiver_replicas: int = 2
    #: calls one replica serves at once; most of them sleep while their run goes on
    receiver_workers: int = 64
    #: requests one replica sends Airflow's api-server at once (its database pool is the limit)
    receiver_airflow_requests: int = 4
    #: uploads of one collector's files one replica serves at once (a credential for n
    #: collectors may hold n times as many, at most `receiver_workers`); more: RESOURCE_EXHAUSTED
    receiver_uploads_per_collector: int = 4
    #: GetStatus calls one replica serves at once (kept apart from uploads and health)
    receiver_status_calls: int = 16
    #: seconds an upload may go without a message before it is cut off
    receiver_idle_seconds: int = 60
    #: on SIGTERM, seconds a replica keeps serving while its health says NOT_SERVING, so a
    #: load balancer's health checks (Envoy: 2 x 5 s) take it out before it stops taking calls
    receiver_drain_delay_seconds: int = 0
    #: bytes per second an upload must average (after ``receiver_idle_seconds`` of grace)
    receiver_min_upload_rate: int = 64 * 1024
    #: how far after now a new file's name may be dated (clock skew between a collector and
    #: the archive): later names are refused by the receiver and skipped by the mirror
    archive_future_skew_seconds: int = 3600
    #: PEM certificate chain and key of the receiver; empty: the local stack's (``tls_dir``)
    receiver_tls_cert: str = ""
    receiver_tls_key: str = ""
    #: 1: serve without TLS, refused unless ``receiver_host`` is a loopback address
    receiver_plaintext: int = 0
    #: the collectors' credentials file (hashes only); empty: ``state_dir/credentials.json``
    receiver_credentials: str = ""
    #: audience of Google-signed ID tokens (the receiver's URL); empty: ID tokens refused
    receiver_id_token_audience: str = ""
    #: where the signing keys of ID tokens are published
    receiver_id_token_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    #: first Prometheus port; replica ``i`` serves metrics on ``+ i``
    receiver_metrics_host: str = "127.0.0.1"
    receiver_metrics_port: int = 9464
    airflow_host: str = "127.0.0.1"
    airflow_port: int = 8080
    airflow_user: str = "receiver"
    airflow_password: str = "receiver"
    airflow_admin_password: str = "admin"
    postgres_port: int = 54329
    gcs_port: int = 4443
    bigquery_port: int = 9050
    bigquery_grpc_port: int = 9060
    #: LocalExecutor task slots; 0: four per core (``cloudz.stack.airflow_env.parallelism``)
    airflow_parallelism: int = 0
    #: ``local`` (Airflow's LocalExecutor) or ``celery`` (a broker and ``celery_workers``)
    executor: str = "local"
    #: the stack's Valkey (Redis protocol) broker for the CeleryExecutor, loopback only
    broker_port: int = 6390
    #: one Celery worker per ``;``-separated entry, each a comma list of the queues it serves:
    #: the second also takes RIB conversions, so a RIB burst holds at most its slots
    celery_workers: str = "default;default,ribs"
    #: task slots of each Celery worker; 0: the executor's slots shared out among the workers
    celery_concurrency: int = 0
    #: the queue of the per-file DAG's conversion of a RIB (``include/airflow_config``'s
    #: cluster policy); empty: RIBs share the default queue
    rib_queue: str = "ribs"
    #: the pool of those conversions: the scheduler queues no more RIBs than its slots, so
    #: RIBs waiting for a worker never hold the executor's slots; empty: no pool
    rib_pool: str = "ribs"
    #: its slots; 0: the slots of the Celery workers serving ``rib_queue`` (or, with the
    #: LocalExecutor, half the executor's)
    rib_slots: int = 0
    #: CPU niceness a RIB's conversion task takes (``os.nice``): on a host shared with the
    #: update files' tasks and Airflow itself, minutes of RIB conversion yield the CPU to
    #: them, and use it whole when it is idle; 0: no change
    rib_nice: int = 10
    #: the queue of every task in ``backfill_pool`` (the batch DAGs' conversions), for
    #: workers of their own; empty: the default queue
    backfill_queue: str = ""
    #: the Airflow pool of loads into the routes table, and its slots
    table_writes_pool: str = "routes_table_writes"
    table_writes_slots: int = 16
    #: ``execution_timeout`` of every per-file task (the DAG reads CLOUDZ_TASK_TIMEOUT_SECONDS);
    #: the largest real file (~100 MB bz2 RIB) converts in well under a tenth of it
    task_timeout_seconds: int = 3600
    #: where the mirror and backfill DAGs read files: an archive URL or a local directory
    archive_source: str = "https://archive.routeviews.org/"
    #: the collectors list (``include/collectors.yaml``); empty: the one in the repository
    collectors_file: str = ""
    #: which archived files are converted and loaded (``cloudz.load_policy``: e.g.
    #: ``*/RIBS: every 8h``); the Airflow Variable ``cloudz_load_policy`` overrides it; empty:
    #: every file is loaded
    load_policy: str = ""
    #: comma-separated collectors the mirror and backfill take; empty: every listed one
    archive_collectors: str = ""
    #: the mirror's window: files named in the last N hours before its run
    mirror_lookback_hours: int = 48
    #: files named less than N minutes before the run are left to the next (may be growing)
    mirror_settle_minutes: int = 60
    #: the Airflow pool of mirror and backfill conversions, and its slots: live uploads
    #: are never in it, so a backfill never holds more than these task slots
    backfill_pool: str = "backfill"
    backfill_slots: int = 2
    #: where Airflow and the tasks send StatsD (UDP); the stack's bridge listens there
    statsd_host: str = "127.0.0.1"
    statsd_port: int = 8125
    #: the bridge serves what it received as Prometheus metrics on this HTTP port
    statsd_metrics_port: int = 9102

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``CLOUDZ_<FIELD>`` for every field, falling back to the default."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"CLOUDZ_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            if kind == "int":
                values[f.name] = int(raw)
            elif kind == "Path":
                values[f.name] = Path(raw).resolve()
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The ``CLOUDZ_*`` variables that reproduce these settings in a child process."""
        return {f"CLOUDZ_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    # --- derived places -------------------------------------------------
    @property
    def airflow_url(self) -> str:
        return f"http://{self.airflow_host}:{self.airflow_port}"

    @property
    def gcs_url(self) -> str:
        return f"http://127.0.0.1:{self.gcs_port}"

    @property
    def bigquery_url(self) -> str:
        return f"http://127.0.0.1:{self.bigquery_port}"

    @property
    def receiver_endpoint(self) -> str:
        return f"{self.receiver_host}:{self.receiver_port}"

    @property
    def working_bucket(self) -> str:
        """Where staging objects and claims go: ``work_bucket``, else the archive bucket."""
        return self.work_bucket_for(self.bucket)

    def work_bucket_for(self, bucket: str) -> str:
        """The working bucket of archive bucket ``bucket`` (a file's own, as its run names it)."""
        return self.work_bucket or bucket

    @property
    def files_ref(self) -> str:
        """``project.dataset.files``: one row per outcome of an archived file version."""
        return f"{self.gcp_project}.{self.dataset}.{self.files_table}"

    @property
    def coverage_ref(self) -> str:
        """``project.dataset.coverage``: what each collector sent, per day and kind."""
        return f"{self.gcp_project}.{self.dataset}.{self.coverage_table}"

    @property
    def quarantine_ref(self) -> str:
        """``project.dataset.quarantine``: who quarantined which file version, when and why."""
        return f"{self.gcp_project}.{self.dataset}.{self.quarantine_table}"

    @property
    def table_ref(self) -> str:
        """``project.dataset.table`` of the routes table."""
        return f"{self.gcp_project}.{self.dataset}.{self.table}"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def tls_dir(self) -> Path:
        """The local stack's CA and receiver certificate (made by ``cloudz-stack up``)."""
        return self.state_dir / "tls"

    @property
    def tls_ca_cert(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def tls_cert(self) -> Path:
        return (
            Path(self.receiver_tls_cert)
            if self.receiver_tls_cert
            else self.tls_dir / "receiver.pem"
        )

    @property
    def tls_key(self) -> Path:
        return (
            Path(self.receiver_tls_key) if self.receiver_tls_key else self.tls_dir / "receiver.key"
        )

    @property
    def credentials_file(self) -> Path:
        if self.receiver_credentials:
            return Path(self.receiver_credentials)
        return self.state_dir / "credentials.json"

    @property
    def local_token_file(self) -> Path:
        """The local stack's own credential, valid for every collector (``cloudz-stack up``)."""
        return self.state_dir / "local.token"

    @property
    def receiver_url(self) -> str:
        """What ``upload-to-cloudz -d`` takes to reach this receiver."""
        scheme = "http" if self.receiver_plaintext else "https"
        return f"{scheme}://{self.receiver_host}:{self.receiver_port}"
