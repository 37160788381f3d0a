"""A StatsD server that keeps what Airflow and the tasks send and serves it to Prometheus.

Prometheus' ``statsd_exporter`` is a Go binary with no wheel and no Debian package here, and
the Python StatsD servers on PyPI are unmaintained, so the embedded stack runs this one: a UDP
listener that parses the StatsD line protocol (counters ``c``, gauges ``g`` with ``+``/``-``
deltas, timers ``ms`` and histograms ``h``, sample rates ``@r``), with tags in either of the
two forms clients send (InfluxDB style ``name,k=v:1|c``, which Airflow emits with
``statsd_influxdb_enabled``, and DogStatsD ``|#k:v``), and exposes them with
``prometheus_client``: a counter per counter, a gauge per gauge, a summary per timer (seconds).
Names become Prometheus names (``airflow.ti.finish`` → ``airflow_ti_finish``), tags labels.
A metric that arrives with another type or label set than before is dropped and counted in
``statsd_bridge_dropped_total``, never a crash.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary

log = logging.getLogger(__name__)

_NAME_BAD = re.compile(r"[^a-zA-Z0-9_:]")
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")
MAX_PACKET = 65535


@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    kind: str  # c, g, ms, h
    rate: float = 1.0
    delta: bool = False  # a gauge "+3" / "-2"
    tags: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def prom_name(name: str) -> str:
    out = _NAME_BAD.sub("_", name.replace(".", "_").replace("-", "_"))
    return out if not out[:1].isdigit() else f"_{out}"


def series_names(statsd_name: str, kind: str) -> tuple[str, ...]:
    """The Prometheus series a StatsD metric (type ``c``, ``g`` or ``ms``) is exposed as."""
    name = prom_name(statsd_name)
    if kind == "c":
        return (f"{name}_total",)
    if kind == "g":
        return (name,)
    family = timer_name(name)
    return (f"{family}_sum", f"{family}_count")


def timer_name(name: str) -> str:
    """A timer's summary is in seconds, and its name says so once."""
    return name if name.endswith("_seconds") else f"{name}_seconds"


def label_name(name: str) -> str:
    out = _LABEL_BAD.sub("_", name)
    return out if out and not out[:1].isdigit() else f"_{out}"


def parse_line(line: str) -> Sample:
    """One StatsD line; ``ValueError`` with the reason for a line that is not one."""
    name_part, sep, rest = line.partition(":")
    if not sep or not name_part:
        raise ValueError(f"no name:value in {line!r}")
    fields = rest.split("|")
    if len(fields) < 2:
        raise ValueError(f"no type in {line!r}")
    raw_value, kind = fields[0], fields[1]
    if kind not in ("c", "g", "ms", "h", "d"):
        raise ValueError(f"unknown type {kind!r} in {line!r}")
    rate = 1.0
    tags: list[tuple[str, str]] = []
    name, *influx = name_part.split(",")
    for pair in influx:
        k, _, v = pair.partition("=")
        tags.append((label_name(k), v))
    for extra in fields[2:]:
        if extra.startswith("@"):
            rate = float(extra[1:])
            if not 0 < rate <= 1:
                raise ValueError(f"sample rate {rate} in {line!r}")
        elif extra.startswith("#"):
            for pair in extra[1:].split(","):
                k, _, v = pair.partition(":")
                tags.append((label_name(k), v))
    delta = kind == "g" and raw_value[:1] in "+-"
    return Sample(
        name=prom_name(name),
        value=float(raw_value),
        kind="ms" if kind in ("h", "d") else kind,
        rate=rate,
        delta=delta,
        tags=tuple(sorted(tags)),
    )


class StatsdBridge:
    """Keeps StatsD samples as Prometheus metrics in ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._metrics: dict[str, tuple[str, tuple[str, ...], Any]] = {}
        self._lock = threading.Lock()
        self.dropped = Counter(
            "statsd_bridge_dropped",
            "StatsD lines dropped: not parsed, or a type or label set that clashes",
            ["reason"],
            registry=self.registry,
        )

    def handle_packet(self, data: bytes) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                self.record(parse_line(line))
            except ValueError as exc:
                log.debug("dropped %s", exc)
                self.dropped.labels(reason="unparsed").inc()

    def record(self, s: Sample) -> None:
        labels = tuple(k for k, _ in s.tags)
        with self._lock:
            known = self._metrics.get(s.name)
            if known is None:
                metric = self._new(s, labels)
                self._metrics[s.name] = (s.kind, labels, metric)
            elif known[:2] != (s.kind, labels):
                self.dropped.labels(reason="clash").inc()
                return
            else:
                metric = known[2]
        child = metric.labels(*(v for _, v in s.tags)) if labels else metric
        if s.kind == "c":
            child.inc(s.value / s.rate)
        elif s.kind == "g":
            if s.delta:
                child.inc(s.value)
            else:
                child.set(s.value)
        else:
            child.observe(s.value / 1000.0)

    def _new(self, s: Sample, labels: tuple[str, ...]) -> Any:
        doc = f"StatsD {s.kind} {s.name}"
        if s.kind == "c":
            return Counter(s.name, doc, labels, registry=self.registry)
        if s.kind == "g":
            return Gauge(s.name, doc, labels, registry=self.registry)
        return Summary(timer_name(s.name), doc, labels, registry=self.registry)

    def serve_udp(self, host: str, port: int, stop: threading.Event) -> None:
        """Receive packets on ``host:port`` until ``stop`` is set."""
        with bind_udp(host, port) as sock:
            self.serve(sock, stop)

    def serve(self, sock: socket.socket, stop: threading.Event) -> None:
        """Receive packets on a bound socket until ``stop`` is set (checked every half second)."""
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                data = sock.recv(MAX_PACKET)
            except TimeoutError:
                continue
            self.handle_packet(data)


def bind_udp(host: str, port: int) -> socket.socket:
    """The StatsD socket, bound (an ``OSError`` when the port is taken)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: list[str] | None = None) -> None:
    """``python -m cloudz.metrics.statsd_bridge``: StatsD on UDP in, Prometheus on HTTP out."""
    import argparse
    import signal

    from prometheus_client import start_http_server

    from cloudz.settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--udp-host", default=settings.statsd_host)
    parser.add_argument("--udp-port", type=int, default=settings.statsd_port)
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=settings.statsd_metrics_port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s statsd-bridge %(message)s")
    bridge = StatsdBridge()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # UDP first: the HTTP port answering is the readiness probe, so it must mean "receiving"
    with bind_udp(args.udp_host, args.udp_port) as sock:
        server, _ = start_http_server(args.http_port, addr=args.http_host, registry=bridge.registry)
        log.info(
            "StatsD on udp://%s:%d, metrics on http://%s:%d/metrics",
            args.udp_host, args.udp_port, args.http_host, args.http_port,
        )  # fmt: skip
        try:
            bridge.serve(sock, stop)
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
