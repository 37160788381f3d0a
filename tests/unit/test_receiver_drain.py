"""A replica told to stop stays reachable, unhealthy, for ``receiver_drain_delay_seconds``.

Behind a load balancer (Envoy checks ``grpc.health.v1`` every 5 s), a replica that stopped
taking calls the moment it got SIGTERM would refuse the calls the balancer still sends it
until its next check. One real replica process, plaintext on loopback, no stack: its health
is read over gRPC before the signal, during the delay, and the process ends after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from free_ports import free_ports
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
#: hang guards only
GUARD = 120.0


def _until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GUARD
    while not done():
        assert time.monotonic() < deadline, f"hang guard: {what}"
        time.sleep(0.1)


def test_sigterm_reports_not_serving_for_the_drain_delay_then_stops(tmp_path: Path) -> None:
    port, metrics = free_ports(2)
    env = {
        **os.environ,
        "CLOUDZ_STATE_DIR": str(tmp_path),
        "CLOUDZ_RECEIVER_PLAINTEXT": "1",
        "CLOUDZ_RECEIVER_PORT": str(port),
        "CLOUDZ_RECEIVER_METRICS_PORT": str(metrics),
        "CLOUDZ_RECEIVER_DRAIN_DELAY_SECONDS": "4",
        # the storage client is built at start; nothing is stored in this test
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
    }
    log = tmp_path / "receiver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest_service.server", "--replica", "0"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    health = health_pb2_grpc.HealthStub(channel)

    def status() -> int | None:
        try:
            reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.RpcError:
            return None
        return int(reply.status)

    try:
        _until("the replica serves", lambda: proc.poll() is None and status() == SERVING)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _until("health says NOT_SERVING", lambda: status() == NOT_SERVING)
        answered = time.monotonic()
        assert proc.poll() is None, log.read_text()  # still there, answering
        assert proc.wait(timeout=GUARD) == 0, log.read_text()
        ended = time.monotonic()
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the delay is a lower bound (a sleep), not a timing expectation of the machine
    assert ended - signalled >= 4.0, (answered - signalled, ended - signalled)
    assert "serving 4 s more while the load balancer sees NOT_SERVING" in log.read_text()
