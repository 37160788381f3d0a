"""The StatsD bridge on a real UDP socket, scraped over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest
from free_ports import free_ports
from prometheus_client import start_http_server

from cloudz.metrics.statsd_bridge import StatsdBridge, parse_line


def test_lines_of_every_kind_and_both_tag_styles_parse() -> None:
    s = parse_line("airflow.ti_failures:1|c")
    assert (s.name, s.value, s.kind) == ("airflow_ti_failures", 1.0, "c")
    s = parse_line("airflow.dagrun.duration.success,dag_id=mrt_file:1234|ms")
    assert (s.name, s.kind, s.tags) == (
        "airflow_dagrun_duration_success",
        "ms",
        (("dag_id", "mrt_file"),),
    )
    s = parse_line("cloudz.rows:500|c|@0.5|#collector:route-views2,kind:RIBS")
    assert s.rate == 0.5 and s.tags == (("collector", "route-views2"), ("kind", "RIBS"))
    assert parse_line("airflow.pool.open_slots.default_pool:-2|g").delta
    for bad in ("nocolon", "x:1", "x:1|zz", "x:1|c|@7", "x:abc|c"):
        with pytest.raises(ValueError):
            parse_line(bad)


def test_udp_packets_are_scraped_as_prometheus_metrics() -> None:
    udp, http = free_ports(2)
    bridge = StatsdBridge()
    stop = threading.Event()
    thread = threading.Thread(target=bridge.serve_udp, args=("127.0.0.1", udp, stop), daemon=True)
    thread.start()
    server, _ = start_http_server(http, addr="127.0.0.1", registry=bridge.registry)
    try:
        lines = [
            "cloudz.files,collector=route-views2,kind=RIBS:1|c",
            "cloudz.files,collector=route-views2,kind=RIBS:1|c|@0.5",
            "cloudz.convert,collector=route-views2:2500|ms",
            "cloudz.load_seconds:1500|ms",
            "airflow.pool.open_slots.backfill:2|g",
            "airflow.pool.open_slots.backfill:-1|g",
            "cloudz.files:1|g",  # a counter's name as a gauge: dropped, counted
            "garbage",
        ]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.sendto("\n".join(lines).encode(), ("127.0.0.1", udp))
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5) as r:
                text = r.read().decode()
            if "statsd_bridge_dropped_total" in text and 'reason="unparsed"' in text:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
        assert 'cloudz_files_total{collector="route-views2",kind="RIBS"} 3.0' in text
        assert 'cloudz_convert_seconds_sum{collector="route-views2"} 2.5' in text
        assert "cloudz_load_seconds_sum 1.5" in text
        assert "airflow_pool_open_slots_backfill 1.0" in text
        assert 'statsd_bridge_dropped_total{reason="clash"} 1.0' in text
        assert 'statsd_bridge_dropped_total{reason="unparsed"} 1.0' in text
    finally:
        stop.set()
        thread.join(timeout=5)
        server.shutdown()
