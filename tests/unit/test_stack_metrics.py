"""The stack's StatsD bridge as the supervisor runs it: its spec, started as a real process,
ready by its probe, fed by the tasks' metrics over UDP, scraped over HTTP, stopped by SIGTERM."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from free_ports import free_ports

from cloudz.metrics import task_metrics
from cloudz.settings import Settings
from cloudz.stack import airflow_env, processes, readiness, supervisor


def _settings(state_dir: Path) -> Settings:
    udp, http = free_ports(2)
    return Settings.from_env(
        {
            "CLOUDZ_STATE_DIR": str(state_dir),
            "CLOUDZ_STATSD_PORT": str(udp),
            "CLOUDZ_STATSD_METRICS_PORT": str(http),
        }
    )


def test_the_bridge_starts_before_airflow_and_stops_after_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    groups = processes.GROUPS
    assert groups.index("metrics") < groups.index("airflow")
    (spec,) = processes.build_specs(settings, ["metrics"])
    assert (spec.name, spec.group) == ("statsd-bridge", "metrics")
    assert spec.ports == (settings.statsd_metrics_port,)
    assert spec.udp_ports == (settings.statsd_port,)
    assert spec.env["CLOUDZ_STATSD_PORT"] == str(settings.statsd_port)


def test_airflow_sends_tagged_statsd_to_the_bridge(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    env = airflow_env.airflow_env(settings)
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
    assert env["AIRFLOW__METRICS__STATSD_PORT"] == str(settings.statsd_port)
    assert env["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] == "True"
    assert env["AIRFLOW__METRICS__LEGACY_NAMES_ON"] == "False"
    # the tasks' own metrics go to the same place
    assert env["CLOUDZ_STATSD_HOST"] == settings.statsd_host
    assert env["CLOUDZ_STATSD_PORT"] == str(settings.statsd_port)


def test_up_refuses_a_busy_statsd_port(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", settings.statsd_port))
        assert readiness.port_in_use(settings.statsd_port, kind=socket.SOCK_DGRAM)
        problems = supervisor.leftovers(settings, ["metrics"])
    assert problems == [f"UDP port {settings.statsd_port} (statsd-bridge) is already in use"]
    assert supervisor.leftovers(settings, ["metrics"]) == []


@pytest.mark.timeout(120)
def test_the_spec_runs_a_bridge_that_serves_task_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    (spec,) = processes.build_specs(settings, ["metrics"])
    log = (tmp_path / "bridge.log").open("wb")
    proc = subprocess.Popen(spec.command, env=spec.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not spec.ready():
            assert proc.poll() is None, (tmp_path / "bridge.log").read_text()
            assert time.monotonic() < deadline, "the bridge never got ready"
            time.sleep(0.1)
        assert processes.probe(settings, "statsd-bridge")()

        monkeypatch.setenv("CLOUDZ_STATSD_HOST", settings.statsd_host)
        monkeypatch.setenv("CLOUDZ_STATSD_PORT", str(settings.statsd_port))
        monkeypatch.setattr(task_metrics, "_client_pid", 0)
        task_metrics.incr("files", collector="route-views2", kind="RIBS", state="loaded")
        url = f"http://127.0.0.1:{settings.statsd_metrics_port}/metrics"
        want = 'cloudz_files_total{collector="route-views2",kind="RIBS",state="loaded"} 1.0'
        while want not in (text := httpx.get(url, timeout=5).text):
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
        log.close()
    assert code == 0, (tmp_path / "bridge.log").read_text()
    assert not readiness.statsd_bridge_ready(settings)
