"""Free TCP ports on loopback, for stacks started by tests beside any other stack."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_range() -> range:
    try:
        lo, hi = (int(x) for x in _EPHEMERAL.read_text().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    return range(lo, hi + 1)


def free_ports(n: int, *, runs: int = 1) -> list[int]:
    """``n`` distinct ports free a moment ago, each the first of ``runs`` consecutive free ports.

    They are taken below the kernel's ephemeral range: a port from that range may be picked
    by any outgoing connection (another stack's clients) between the test's choice and the
    server's bind, which made stack start-ups fail with "already in use".
    """
    ephemeral = _ephemeral_range()
    rng = random.Random()
    chosen: list[int] = []
    taken: set[int] = set()
    held: list[socket.socket] = []
    try:
        while len(chosen) < n:
            # below the ephemeral range when it leaves room (it usually starts at 32768)
            avoid = ephemeral.start > 20100
            base = (
                rng.randrange(20000, ephemeral.start - runs)
                if avoid
                else rng.randrange(1024, 65535 - runs)
            )
            block = range(base, base + runs)
            if any(p in taken or (avoid and p in ephemeral) for p in block):
                continue
            socks = []
            try:
                for p in block:
                    # free for TCP and UDP both: the StatsD port is a UDP one
                    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                        s = socket.socket(socket.AF_INET, kind)
                        socks.append(s)
                        s.bind(("127.0.0.1", p))
            except OSError:
                for s in socks:
                    s.close()
                continue
            held.extend(socks)
            taken.update(block)
            chosen.append(base)
    finally:
        for s in held:
            s.close()
    return chosen


def stack_ports_env(state_dir: Path) -> dict[str, str]:
    """A stack of its own: its state dir, a free port for every component, and the
    emulator variables the Google clients follow (the e2e tests' and the benches' stacks)."""
    # runs=2: receiver replica i serves metrics on metrics + i
    pg, gcs, bq, bq_grpc, airflow, receiver, metrics, statsd, statsd_metrics, broker = free_ports(
        10, runs=2
    )
    return {
        "CLOUDZ_STATE_DIR": str(state_dir),
        "CLOUDZ_POSTGRES_PORT": str(pg),
        "CLOUDZ_GCS_PORT": str(gcs),
        "CLOUDZ_BIGQUERY_PORT": str(bq),
        "CLOUDZ_BIGQUERY_GRPC_PORT": str(bq_grpc),
        "CLOUDZ_AIRFLOW_PORT": str(airflow),
        "CLOUDZ_RECEIVER_PORT": str(receiver),
        "CLOUDZ_RECEIVER_METRICS_PORT": str(metrics),
        "CLOUDZ_STATSD_PORT": str(statsd),
        "CLOUDZ_STATSD_METRICS_PORT": str(statsd_metrics),
        "CLOUDZ_BROKER_PORT": str(broker),
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs}",
        "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{bq}",
    }
