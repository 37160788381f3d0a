"""The tasks' StatsD metrics on a real UDP socket, and through the stack's bridge."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from free_ports import free_ports

from cloudz.archive.archived_file import ArchivedFile
from cloudz.metrics import task_metrics
from cloudz.metrics.statsd_bridge import StatsdBridge


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A UDP socket where this process's task metrics go."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    monkeypatch.setenv("CLOUDZ_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("CLOUDZ_STATSD_PORT", str(sock.getsockname()[1]))
    monkeypatch.setattr(task_metrics, "_client_pid", 0)  # the next call makes a new client
    with sock:
        yield sock


def _lines(sock: socket.socket, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        out.extend(sock.recv(65535).decode().splitlines())
    return out


def test_each_call_sends_one_line_with_prefix_and_influx_tags(receiver: socket.socket) -> None:
    task_metrics.incr("files", collector="route-views2", kind="RIBS", state="loaded")
    task_metrics.incr("rows", 1234, kind="UPDATES", collector="route-views.sydney")
    task_metrics.gauge("reconcile.backlog", 7)
    task_metrics.gauge("collector.silent", 0, collector="rrc00", kind="RIBS")
    task_metrics.timing("convert", 1.5, collector="route-views2", kind="RIBS")
    with task_metrics.timer("load", collector="route-views2", kind="RIBS"):
        pass
    lines = _lines(receiver, 6)
    assert lines[:5] == [
        "cloudz.files,collector=route-views2,kind=RIBS,state=loaded:1|c",
        "cloudz.rows,collector=route-views.sydney,kind=UPDATES:1234|c",
        "cloudz.reconcile.backlog:7|g",
        "cloudz.collector.silent,collector=rrc00,kind=RIBS:0|g",
        "cloudz.convert,collector=route-views2,kind=RIBS:1500.000000|ms",
    ]
    assert lines[5].startswith("cloudz.load,collector=route-views2,kind=RIBS:")
    assert lines[5].endswith("|ms")


def test_what_would_break_the_protocol_is_replaced(receiver: socket.socket) -> None:
    task_metrics.incr("files", collector="a,b=c:d|e f\u00e9", kind="RIBS")
    assert _lines(receiver, 1) == ["cloudz.files,collector=a_b_c_d_e_f_,kind=RIBS:1|c"]


def test_a_timed_block_that_raises_is_timed_and_the_error_stands(
    receiver: socket.socket,
) -> None:
    with pytest.raises(RuntimeError), task_metrics.timer("convert", collector="x", kind="RIBS"):
        raise RuntimeError("the conversion failed")
    (line,) = _lines(receiver, 1)
    assert line.startswith("cloudz.convert,collector=x,kind=RIBS:") and line.endswith("|ms")


def test_sending_never_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    (closed,) = free_ports(1)  # nothing listens there
    monkeypatch.setenv("CLOUDZ_STATSD_PORT", str(closed))
    monkeypatch.setattr(task_metrics, "_client_pid", 0)
    for _ in range(3):  # an ICMP "port unreachable" may surface on a later send
        task_metrics.incr("files", collector="x", kind="RIBS")
        task_metrics.gauge("reconcile.backlog", -1)
    monkeypatch.setenv("CLOUDZ_STATSD_PORT", "not-a-port")
    monkeypatch.setattr(task_metrics, "_client_pid", 0)
    task_metrics.incr("files", collector="x", kind="RIBS")
    with task_metrics.timer("load"):
        pass


def test_through_the_bridge_they_become_prometheus_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (udp,) = free_ports(1)
    bridge = StatsdBridge()
    stop = threading.Event()
    thread = threading.Thread(target=bridge.serve_udp, args=("127.0.0.1", udp, stop), daemon=True)
    thread.start()
    monkeypatch.setenv("CLOUDZ_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("CLOUDZ_STATSD_PORT", str(udp))
    monkeypatch.setattr(task_metrics, "_client_pid", 0)
    tags = task_metrics.file_tags(
        ArchivedFile.of("route-views2/bgpdata/2024.01/RIBS/rib.20240101.0000.bz2", "0" * 64)
    )
    labels = {"collector": tags["collector"], "kind": tags["kind"]}  # the samples' labels
    try:
        value = bridge.registry.get_sample_value
        files = {"state": "loaded", **labels}
        deadline = time.monotonic() + 30
        while value("cloudz_files_total", files) is None:  # the socket may not be bound yet
            assert time.monotonic() < deadline, "the bridge never received a sample"
            task_metrics.incr("files", state="loaded", **tags)
            time.sleep(0.05)
        sent = value("cloudz_files_total", files)
        assert sent is not None
        task_metrics.incr("files", state="loaded", **tags)
        task_metrics.incr("rows", 300, **tags)
        task_metrics.timing("convert", 2.0, **tags)
        task_metrics.gauge("reconcile.backlog", -2)
        while value("cloudz_reconcile_backlog") is None:
            assert time.monotonic() < deadline, "the gauge never arrived"
            time.sleep(0.05)
        assert value("cloudz_files_total", files) == sent + 1
        assert labels == {"collector": "route-views2", "kind": "RIBS"}
        assert value("cloudz_rows_total", labels) == 300
        assert value("cloudz_convert_seconds_sum", labels) == 2.0
        assert value("cloudz_convert_seconds_count", labels) == 1
        assert value("cloudz_reconcile_backlog") == -2
    finally:
        stop.set()
        thread.join(timeout=5)
