"""Faults produced for real: Airflow down, the object store's disk full.

Each test starts its own fake-gcs-server and a real receiver process (the
session stack is not touched), so it can break them without harming others.
The full disk is a real 1 MiB tmpfs under fake-gcs-server (needs root to mount;
skipped with the reason otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from free_ports import free_ports
from samples import SAMPLES_DIR
from stack_session import BIN

from cloudz.settings import Settings
from cloudz.stack import readiness
from cloudz.stack.processes import gcs_binary
from cloudz.stack.receiver_secrets import ensure_receiver_secrets
from cloudz.warehouse.clients import storage_client

pytestmark = pytest.mark.stack


class Receiver:
    """fake-gcs-server on ``gcs_root`` plus one receiver whose Airflow is not there."""

    def __init__(self, gcs_root: Path) -> None:
        gcs, receiver, metrics, dead_airflow = free_ports(4)
        state_dir = Path(tempfile.mkdtemp(prefix="cloudz-faults-"))
        self.env = {
            **os.environ,
            "CLOUDZ_STATE_DIR": str(state_dir),
            "CLOUDZ_GCS_PORT": str(gcs),
            "CLOUDZ_RECEIVER_PORT": str(receiver),
            "CLOUDZ_RECEIVER_METRICS_PORT": str(metrics),
            "CLOUDZ_AIRFLOW_PORT": str(dead_airflow),
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs}",
        }
        self.settings = Settings.from_env(self.env)
        self.endpoint = f"https://127.0.0.1:{receiver}"
        url = f"http://127.0.0.1:{gcs}"
        gcs_cmd = [str(gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(gcs),
                   "-backend", "filesystem", "-filesystem-root", str(gcs_root),
                   "-external-url", url, "-public-host", "127.0.0.1"]  # fmt: skip
        self.procs = [
            subprocess.Popen(gcs_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ]
        _wait(lambda: readiness.gcs_ready(self.settings))
        os.environ["STORAGE_EMULATOR_HOST"] = url
        storage_client(self.settings).create_bucket(self.settings.bucket)
        ensure_receiver_secrets(self.settings)
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "ingest_service.server"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait(lambda: readiness.grpc_serving(self.settings))

    def upload(self, file: Path, archive_path: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "upload-to-cloudz"), "-f", str(file), "-d", self.endpoint,
             "--archive-path", archive_path, "--json", "--wait", "20",
             "--ca-cert", str(self.settings.tls_ca_cert),
             "--token-file", str(self.settings.local_token_file)],
            env=self.env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
            p.wait(timeout=30)


def _wait(ready: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(ready) and ready():
            return
        time.sleep(0.2)
    pytest.fail("component did not get ready")


@pytest.fixture
def saved_emulator_host() -> Iterator[None]:
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    yield
    if saved is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = saved


def test_dead_airflow_loses_nothing(saved_emulator_host: None, tmp_path: Path) -> None:
    """Airflow unreachable: the file is archived, the reply names the trigger stage."""
    gcs_root = Path(tempfile.mkdtemp(prefix="cloudz-gcs-"))
    receiver = Receiver(gcs_root)
    try:
        sample = SAMPLES_DIR / "quagga_bgp"
        path = "sample-quagga/bgpdata/2026.01/UPDATES/updates.20260101.0000"
        proc = receiver.upload(sample, path)
        assert proc.returncode == 4, proc.stdout + proc.stderr
        reply = json.loads(proc.stdout)
        assert reply["archive"]["result"] == "ARCHIVE_RESULT_STORED"
        assert reply["failure"]["stage"] == "trigger"
        assert "unreachable" in reply["failure"]["reason"]
        assert "will be picked up" in reply["failure"]["reason"]
        bucket = storage_client(receiver.settings).bucket(receiver.settings.bucket)
        assert bucket.blob(path).download_as_bytes() == sample.read_bytes()
        metrics = httpx.get(
            f"http://127.0.0.1:{receiver.settings.receiver_metrics_port}/metrics"
        ).text
        assert 'cloudz_grpc_calls_total{code="OK",method="Upload"} 1.0' in metrics
        assert 'cloudz_uploads_total{result="outcome_failed"} 1.0' in metrics
    finally:
        receiver.stop()


def test_full_disk_under_the_object_store_stores_nothing(
    saved_emulator_host: None, tmp_path: Path
) -> None:
    gcs_root = Path(tempfile.mkdtemp(prefix="cloudz-gcs-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(gcs_root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    receiver = None
    try:
        receiver = Receiver(gcs_root)
        big = tmp_path / "big"
        big.write_bytes(os.urandom(3 * 1024 * 1024))
        path = "sample-full/bgpdata/2026.01/RIBS/rib.20260101.0000"
        proc = receiver.upload(big, path)
        assert proc.returncode in (3, 6), proc.stdout + proc.stderr
        error = json.loads(proc.stdout)["error"]
        assert error["code"] == "UNAVAILABLE", error
        assert "nothing was archived" in error["message"]
        bucket = storage_client(receiver.settings).bucket(receiver.settings.bucket)
        assert bucket.get_blob(path) is None
        # the store recovers when space comes back: a small file still goes in
        small = SAMPLES_DIR / "quagga_rib"
        ok = receiver.upload(small, "sample-full/bgpdata/2026.01/RIBS/rib.20260101.0015")
        assert json.loads(ok.stdout)["archive"]["result"] == "ARCHIVE_RESULT_STORED", ok.stdout
    finally:
        if receiver is not None:
            receiver.stop()
        subprocess.run(["umount", str(gcs_root)], check=False)
