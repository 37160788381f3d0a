"""Readiness probes: each answers "does this component serve now?" quickly and never raises.

A started process is not a ready one: the supervisor waits on these before starting what
depends on it, and ``cloudz-stack status`` runs them live rather than trusting a stale file.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloudz.settings import Settings

PROBE_TIMEOUT = 2.0
#: Airflow's processes, each with the entry of ``/api/v2/monitor/health`` that says it runs
AIRFLOW_HEALTH = {
    "api-server": "metadatabase",
    "scheduler": "scheduler",
    "dag-processor": "dag_processor",
    "triggerer": "triggerer",
}
AIRFLOW_HEALTH_KEYS = tuple(AIRFLOW_HEALTH.values())


def http_ok(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when ``GET url`` answers 200."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def gcs_ready(settings: Settings) -> bool:
    return http_ok(f"{settings.gcs_url}/storage/v1/b")


def bigquery_ready(settings: Settings) -> bool:
    return http_ok(f"{settings.bigquery_url}/bigquery/v2/projects/{settings.gcp_project}/datasets")


def statsd_bridge_ready(settings: Settings) -> bool:
    """The bridge binds its StatsD socket before it serves HTTP: ``/metrics`` = 200 means both."""
    return http_ok(f"http://127.0.0.1:{settings.statsd_metrics_port}/metrics")


def airflow_ready(settings: Settings, parts: Iterable[str] = AIRFLOW_HEALTH_KEYS) -> bool:
    """The api-server's ``/api/v2/monitor/health`` reports each of ``parts`` healthy (their
    heartbeats are kept in the DB); by default all of Airflow."""
    try:
        response = httpx.get(f"{settings.airflow_url}/api/v2/monitor/health", timeout=PROBE_TIMEOUT)
    except httpx.HTTPError:
        return False
    health = response.json() if response.status_code == 200 else {}
    return all((health.get(part) or {}).get("status") == "healthy" for part in parts)


def receiver_channel(
    settings: Settings,
    target: str | None = None,
    options: list[tuple[str, int]] | None = None,
) -> grpc.Channel:
    """A channel to the local receiver: TLS trusting the stack's CA, unless it is plaintext."""
    target = target or settings.receiver_endpoint
    if settings.receiver_plaintext:
        return grpc.insecure_channel(target, options=options)
    ca = settings.tls_ca_cert.read_bytes() if settings.tls_ca_cert.exists() else None
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.secure_channel(target, credentials, options=options)


def grpc_serving(
    settings: Settings, target: str | None = None, timeout: float = PROBE_TIMEOUT
) -> bool:
    """The standard gRPC health service (service ``""``) says SERVING at ``target``."""
    try:
        with receiver_channel(settings, target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def receiver_ready(settings: Settings, replica: int) -> bool:
    """A replica's own metrics port, then the shared gRPC port (any replica may answer)."""
    metrics = f"http://127.0.0.1:{settings.receiver_metrics_port + replica}/metrics"
    return http_ok(metrics) and grpc_serving(settings)


def port_in_use(port: int, host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> bool:
    """True when something listens on ``host:port`` (a bind without SO_REUSEPORT fails);
    ``kind=socket.SOCK_DGRAM`` for a UDP port."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
