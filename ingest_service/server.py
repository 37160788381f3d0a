"""Run one receiver replica: the IngestService plus gRPC health and reflection.

Replicas are stateless and bind the same port with ``SO_REUSEPORT``: the kernel
spreads new connections over them, so the local stack needs no proxy (see
docs/stack.md). SIGTERM flips health to NOT_SERVING, keeps serving for
``receiver_drain_delay_seconds`` (a load balancer's health checks take the replica out
first), then drains calls.

Every call to IngestService passes three interceptors: metrics (outermost, so
refusals are counted too), authentication, and admission. The port speaks TLS;
plaintext is served only on a loopback address and only when asked for.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from concurrent import futures
from datetime import timedelta
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from cloudz import pipeline_contract as contract
from cloudz.archive.store import ArchiveStore
from cloudz.collector_credentials import CredentialFile
from cloudz.ingest.endpoint import is_loopback
from cloudz.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from cloudz.settings import Settings
from cloudz.warehouse.clients import bigquery_client, storage_client
from ingest_service.admission import Admission, AdmissionInterceptor
from ingest_service.airflow_runs import AirflowRuns
from ingest_service.auth import AuthInterceptor, IdTokenVerifier
from ingest_service.catalog_answer import CatalogAnswers
from ingest_service.interceptors import MetricsInterceptor
from ingest_service.run_watcher import RunWatcher
from ingest_service.service import IngestService

log = logging.getLogger("ingest_service")

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
#: the CLI sends 1 MiB chunks; a message is buffered whole, so this bounds memory per call
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DRAIN_SECONDS = 30.0
#: an upload (streaming + waiting) never needs longer; a stalled client is cut off after it
MAX_CONNECTION_AGE_MS = 2 * 3600 * 1000
MAX_CONNECTION_AGE_GRACE_MS = 10 * 60 * 1000
#: threads kept free of uploads and status calls: health checks and reflection
RESERVED_THREADS = 8


class ConfigError(RuntimeError):
    """The replica's settings would make it unsafe to serve."""


def bind(server: grpc.Server, settings: Settings, port: int | None = None) -> int:
    """Bind the port with TLS, or plaintext on loopback when asked; the port bound."""
    address = f"{settings.receiver_host}:{settings.receiver_port if port is None else port}"
    if settings.receiver_plaintext:
        if not is_loopback(settings.receiver_host):
            raise ConfigError(
                f"plaintext refused on {settings.receiver_host}: it is not a loopback address, "
                "and credentials would cross the network in clear; serve TLS "
                "(CLOUDZ_RECEIVER_TLS_CERT/_KEY) instead"
            )
        log.warning("serving PLAINTEXT on %s (loopback only)", address)
        return int(server.add_insecure_port(address))
    try:
        key = settings.tls_key.read_bytes()
        chain = settings.tls_cert.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no TLS certificate/key ({exc.filename}): set CLOUDZ_RECEIVER_TLS_CERT and "
            "CLOUDZ_RECEIVER_TLS_KEY (`cloudz-stack up` makes them for the local stack)"
        ) from exc
    credentials = grpc.ssl_server_credentials([(key, chain)])
    return int(server.add_secure_port(address, credentials))


def build_server(
    settings: Settings, stopping: threading.Event
) -> tuple[grpc.Server, health.HealthServicer]:
    store = ArchiveStore(
        storage_client(settings, connections=settings.receiver_workers),
        settings.bucket,
        settings.working_bucket,
    )
    runs = AirflowRuns(
        settings.airflow_url,
        dag_id=contract.DAG_ID,
        username=settings.airflow_user,
        password=settings.airflow_password,
        max_concurrent=settings.receiver_airflow_requests,
    )
    watcher = RunWatcher(runs, stopping=stopping)
    admission = Admission(
        uploads=settings.receiver_workers,
        uploads_per_collector=settings.receiver_uploads_per_collector,
        status_calls=settings.receiver_status_calls,
    )
    id_tokens = (
        IdTokenVerifier(settings.receiver_id_token_audience, settings.receiver_id_token_certs_url)
        if settings.receiver_id_token_audience
        else None
    )
    threads = settings.receiver_workers + settings.receiver_status_calls + RESERVED_THREADS
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest"),
        interceptors=[
            MetricsInterceptor(),
            AuthInterceptor(SERVICE_NAME, CredentialFile(settings.credentials_file), id_tokens),
            AdmissionInterceptor(SERVICE_NAME, admission),
        ],
        # uploads and status calls are bounded by Admission below the pool's size, so the
        # reserved threads answer health checks; beyond the pool gRPC refuses at once
        # instead of queueing unseen; and no one connection lives for ever
        maximum_concurrent_rpcs=threads,
        options=[
            ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
            ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(
        IngestService(
            store,
            runs,
            stopping,
            watcher,
            idle_seconds=settings.receiver_idle_seconds,
            min_upload_rate=settings.receiver_min_upload_rate,
            admission=admission,
            future_skew=timedelta(seconds=settings.archive_future_skew_seconds),
            catalog=CatalogAnswers(
                lambda: bigquery_client(settings), settings.files_ref, settings.table_ref
            ),
        ),
        server,
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer


def _set_health(servicer: health.HealthServicer, status: int) -> None:
    for name in ("", SERVICE_NAME):
        servicer.set(name, status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--replica", type=int, default=0, help="replica number (metrics port offset)"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="serve on this port instead of the shared one"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s replica-{args.replica} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Airflow poll otherwise
    settings = Settings.from_env()
    stopping = threading.Event()
    server, health_servicer = build_server(settings, stopping)
    try:
        port = bind(server, settings, args.port)
    except ConfigError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from exc
    start_http_server(
        settings.receiver_metrics_port + args.replica, addr=settings.receiver_metrics_host
    )
    server.start()
    _set_health(health_servicer, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving on %s:%d", settings.receiver_host, port)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: draining", signum)
        _set_health(health_servicer, health_pb2.HealthCheckResponse.NOT_SERVING)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    if settings.receiver_drain_delay_seconds > 0:
        # still serving, but unhealthy: the load balancer sends new calls elsewhere first
        log.info("serving %d s more while the load balancer sees NOT_SERVING",
                 settings.receiver_drain_delay_seconds)  # fmt: skip
        time.sleep(settings.receiver_drain_delay_seconds)
    server.stop(DRAIN_SECONDS).wait()
    log.info("stopped")


if __name__ == "__main__":
    main()
