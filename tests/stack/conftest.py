"""Fixtures of the stack tests: the emulators, started here on free ports (no Airflow)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from free_ports import free_ports

from cloudz.settings import Settings
from cloudz.stack import bigquery_emulator, readiness
from cloudz.stack.layout import Layout
from cloudz.stack.processes import gcs_binary


@pytest.fixture(scope="module")
def cloud() -> Iterator[Settings]:
    """fake-gcs-server and local-bigquery (which reads ``gs://`` from it), provisioned like
    the stack (bucket, dataset, routes table, files catalog); the clients point at them."""
    from cloudz.stack.provision import provision

    state = Path(tempfile.mkdtemp(prefix="cloudz-cloud-"))
    gcs_port, bq_port, bq_grpc = free_ports(3)
    settings = Settings.from_env(
        {
            "CLOUDZ_STATE_DIR": str(state),
            "CLOUDZ_GCS_PORT": str(gcs_port),
            "CLOUDZ_BIGQUERY_PORT": str(bq_port),
            "CLOUDZ_BIGQUERY_GRPC_PORT": str(bq_grpc),
        }
    )
    bigquery_emulator.ensure_installed(state / "setup.log")
    Layout.of(settings).bigquery.mkdir(parents=True)
    (state / "gcs").mkdir()
    gcs_args = [
        "-scheme", "http", "-host", "127.0.0.1", "-port", str(gcs_port),
        "-backend", "filesystem", "-filesystem-root", str(state / "gcs"),
        "-external-url", settings.gcs_url, "-public-host", "127.0.0.1",
    ]  # fmt: skip
    gcs = subprocess.Popen(
        [str(gcs_binary()), *gcs_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    procs = [gcs]
    with (state / "bigquery.log").open("wb") as log:
        procs.append(
            subprocess.Popen(
                bigquery_emulator.command(settings),
                env=bigquery_emulator.environment(settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST")}
    os.environ["STORAGE_EMULATOR_HOST"] = settings.gcs_url
    os.environ["BIGQUERY_EMULATOR_HOST"] = settings.bigquery_url
    try:
        deadline = time.monotonic() + 120
        while not (readiness.gcs_ready(settings) and readiness.bigquery_ready(settings)):
            assert all(p.poll() is None for p in procs), (state / "bigquery.log").read_text()
            assert time.monotonic() < deadline, "the emulators did not start"
            time.sleep(0.2)
        provision(settings)
        yield settings
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
