"""What TLS costs an upload: the same file streamed to a TLS and to a plaintext replica.

Starts two extra receiver replicas of the running local stack (same store, Airflow and
credentials), one with TLS and one plaintext on loopback, each on its own port, and
uploads one generated file to each in alternating rounds under new archive paths. It
reports the time to stream the bytes (until the receiver has taken the last message:
the client's generator is drained) as the ratio TLS / plaintext per round, and the
median; absolute times on a shared machine are noise.

    .venv/bin/python bench/tls_cost.py --rounds 7 --mib 32
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
from harness.credentials import local_token
from harness.own_stack import free_ports

from cloudz.cli.upload import call_metadata
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.ingest.v1 import ingest_pb2_grpc as pb_grpc
from cloudz.settings import Settings
from cloudz.stack import processes, readiness

CHUNK = 1024 * 1024


def start_replica(
    settings: Settings, port: int, metrics: int, plaintext: bool
) -> subprocess.Popen[bytes]:
    env = {
        **processes.receiver_env(settings),
        "CLOUDZ_RECEIVER_METRICS_PORT": str(metrics),
        "CLOUDZ_RECEIVER_PLAINTEXT": "1" if plaintext else "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest_service.server", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    probe = Settings.from_env(
        {**settings.to_env(), "CLOUDZ_RECEIVER_PLAINTEXT": env["CLOUDZ_RECEIVER_PLAINTEXT"]}
    )
    # a replica's start took over 60 s at a load average of 24 on the shared 2 cores
    deadline = time.monotonic() + 180
    while not readiness.grpc_serving(probe, f"127.0.0.1:{port}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)  # never left serving behind the bench
            raise SystemExit(f"replica on {port} did not start")
        time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=40)


def stream_seconds(channel: grpc.Channel, data: bytes, path: str, token: str | None) -> float:
    """Seconds from the first message to the receiver taking the last one."""
    header = pb.FileHeader(
        archive_path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    drained: list[float] = []

    def requests() -> Iterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=header)
        for i in range(0, len(data), CHUNK):
            yield pb.UploadRequest(chunk=data[i : i + CHUNK])
        drained.append(time.monotonic())

    started = time.monotonic()
    pb_grpc.IngestServiceStub(channel).Upload(
        requests(), timeout=600, metadata=call_metadata(token)
    )
    return drained[0] - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument(
        "--mib",
        type=int,
        default=32,
        help="file size (random bytes: the run fails at convert, which is not measured)",
    )
    ap.add_argument("--tls-port", type=int, default=50061)
    ap.add_argument("--plain-port", type=int, default=50062)
    args = ap.parse_args()
    settings = Settings.from_env()
    token = local_token(settings)
    data = os.urandom(args.mib * 1024 * 1024)
    # their metrics on ports of their own: the stack's replicas (or another stack's) hold some
    tls_metrics, plain_metrics = free_ports(2)
    procs = [start_replica(settings, args.tls_port, tls_metrics, plaintext=False)]
    try:
        procs.append(start_replica(settings, args.plain_port, plain_metrics, plaintext=True))
    except SystemExit:
        stop(procs[0])
        raise
    ca = settings.tls_ca_cert.read_bytes()
    tls = grpc.secure_channel(f"127.0.0.1:{args.tls_port}", grpc.ssl_channel_credentials(ca))
    plain = grpc.insecure_channel(f"127.0.0.1:{args.plain_port}")
    nonce = secrets.token_hex(3)
    ratios, tls_s, plain_s = [], [], []
    try:
        for i in range(args.rounds + 1):  # round 0 warms both up and is not counted
            order = [("tls", tls), ("plain", plain)] if i % 2 else [("plain", plain), ("tls", tls)]
            took = {}
            for name, channel in order:
                # a RouteViews name (cloudz.archive.paths), one per channel and round
                day = "01" if name == "tls" else "02"
                hhmm = f"{i // 60:02d}{i % 60:02d}"
                path = f"bench-tls-{nonce}/bgpdata/2026.11/RIBS/rib.202611{day}.{hhmm}"
                took[name] = stream_seconds(channel, data + secrets.token_bytes(8), path, token)
            if i:
                ratios.append(took["tls"] / took["plain"])
                tls_s.append(took["tls"])
                plain_s.append(took["plain"])
            print(f"round {i}: tls {took['tls']:.2f} s, plaintext {took['plain']:.2f} s")
    finally:
        tls.close()
        plain.close()
        for p in procs:
            stop(p)
    print(
        f"{args.mib} MiB, {args.rounds} rounds: TLS / plaintext streaming time, median "
        f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); "
        f"medians {statistics.median(tls_s):.2f} s vs {statistics.median(plain_s):.2f} s"
    )


if __name__ == "__main__":
    main()
