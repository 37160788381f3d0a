"""One more receiver replica of the session stack, on a port of its own.

The stack's replicas share one port and the kernel picks which one a connection
reaches; a test that needs a given replica (two at once, one to kill, one with
other settings) starts this one. It is a real ``ingest_service.server`` process
with the stack's settings, its store, its Airflow and its credentials file.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import pytest
from free_ports import free_ports
from stack_session import Stack

from cloudz.settings import Settings
from cloudz.stack import processes, readiness


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    settings: Settings
    port: int
    metrics_port: int

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def channel(self, options: list[tuple[str, int]] | None = None) -> grpc.Channel:
        return readiness.receiver_channel(self.settings, f"127.0.0.1:{self.port}", options)


@contextmanager
def extra_replica(stack: Stack, **settings_env: str) -> Iterator[Replica]:
    """Start a replica (``CLOUDZ_*`` overrides as keyword arguments), stop it afterwards."""
    port, metrics_port = free_ports(2)
    env = {**stack.env, **settings_env, "CLOUDZ_RECEIVER_METRICS_PORT": str(metrics_port)}
    settings = Settings.from_env(env)
    log = (settings.logs_dir / f"receiver-extra-{port}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest_service.server", "--port", str(port)],
        env={**processes.receiver_env(settings), **settings_env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    replica = Replica(proc, settings, port, metrics_port)
    try:
        deadline = time.monotonic() + 60
        while not readiness.grpc_serving(settings, f"127.0.0.1:{port}"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"extra replica did not start (exit {proc.poll()}), see {log.name}")
            time.sleep(0.2)
        yield replica
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
