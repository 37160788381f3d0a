"""Uploads through the receiver's gRPC API, as collectors make them, timed upload -> reply.

Each collector has its own channel and its own connection (so the kernel spreads them over the
receiver replicas); an upload is retried on UNAVAILABLE and RESOURCE_EXHAUSTED as
``upload-to-cloudz`` retries it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from tqdm import tqdm

from cloudz.cli.upload import UNAVAILABLE_ATTEMPTS, call_metadata, upload_requests
from cloudz.ingest.endpoint import parse_endpoint
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.ingest.v1 import ingest_pb2_grpc as pb_grpc

#: the reply outcomes that tell a file's fate
FINAL_OUTCOMES = ("SUCCEEDED", "PARTIAL", "FAILED", "REJECTED")


def enum_name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)


@dataclass(frozen=True)
class Upload:
    """One file to send: where it is, where it goes, what it holds."""

    local: Path
    archive_path: str
    sha256: str
    size: int
    rows: int | None  # generated rows; None for a real sample
    token: str | None = None  # the collector's own credential (else the run's --token)


@dataclass
class Reply:
    """What one upload got back, and when (Unix time, from one clock)."""

    archive_path: str
    started: float = 0.0
    ended: float = 0.0
    attempts: int = 0
    outcome: str = ""  # SUCCEEDED, PARTIAL, FAILED, RUNNING, REJECTED; "" for a gRPC error
    grpc_code: str = ""
    grpc_message: str = ""
    sent: bool = False
    archive_result: str = ""
    verify: str = ""
    conversion_rows: int = 0
    conversion_state: str = ""
    load_rows: int = 0
    load_state: str = ""
    failure_stage: str = ""
    failure_reason: str = ""
    run_id: str = ""
    run_state: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def label(self) -> str:
        """The outcome, or ``gRPC <CODE>`` for a call that failed."""
        return self.outcome or f"gRPC {self.grpc_code}"

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    @property
    def needs_followup(self) -> bool:
        """The reply does not tell the file's fate: no outcome yet, or a run it could not reach."""
        return not self.final or self.failure_stage == "trigger"

    def fill(self, status: pb.FileStatus) -> None:
        self.outcome = enum_name(pb.Outcome, status.outcome, "OUTCOME_")
        self.grpc_code = self.grpc_message = ""
        self.archive_result = enum_name(pb.ArchiveResult, status.archive.result, "ARCHIVE_RESULT_")
        self.verify = enum_name(pb.StageState, status.verify, "STAGE_STATE_")
        self.conversion_rows = status.conversion.rows
        self.conversion_state = enum_name(pb.StageState, status.conversion.state, "STAGE_STATE_")
        self.load_rows = status.load.rows_loaded
        self.load_state = enum_name(pb.StageState, status.load.state, "STAGE_STATE_")
        if status.HasField("failure"):
            self.failure_stage = status.failure.stage
            self.failure_reason = status.failure.reason
        else:
            self.failure_stage = self.failure_reason = ""
        self.run_id = status.run_id
        self.run_state = status.run_state


#: gRPC shares one connection among a process's channels to the same target unless each
#: channel keeps its own subchannels: without this, N "collectors" are N streams on one
#: TCP connection to one replica, which no real set of collectors is
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


class Channel:
    """One collector's own channel and its own connection to the receiver."""

    def __init__(self, endpoint: str, ca_cert: bytes | None) -> None:
        self.channel = parse_endpoint(endpoint).channel(ca_cert=ca_cert, options=OWN_CONNECTION)
        self.stub = pb_grpc.IngestServiceStub(self.channel)

    def connect(self, timeout: float) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    def close(self) -> None:
        self.channel.close()


def upload_one(
    stub: pb_grpc.IngestServiceStub, up: Upload, wait: float, token: str | None
) -> Reply:
    """Upload as ``upload-to-cloudz`` does (UNAVAILABLE and RESOURCE_EXHAUSTED retried with
    backoff within the wait), timing upload -> reply."""
    reply = Reply(up.archive_path)
    header = pb.FileHeader(archive_path=up.archive_path, sha256=up.sha256, size=up.size)
    reply.started = time.time()
    deadline = reply.started + wait
    for attempt in range(1, UNAVAILABLE_ATTEMPTS + 1):
        reply.attempts = attempt
        sent: list[bool] = []
        try:
            with up.local.open("rb") as f, tqdm(disable=True) as bar:
                status = stub.Upload(
                    upload_requests(f, header, bar, sent),
                    timeout=max(0.1, deadline - time.time()),
                    metadata=call_metadata(token),
                )
            reply.sent = True
            reply.fill(status)
            break
        except grpc.RpcError as err:
            reply.sent = bool(sent)
            reply.grpc_code = err.code().name
            reply.grpc_message = str(err.details())
            if (
                err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
                and attempt < UNAVAILABLE_ATTEMPTS
                and time.time() + 2**attempt < deadline
            ):
                time.sleep(2**attempt)
                continue
            break
    reply.ended = time.time()
    return reply


def burst_uploads(
    uploads: Sequence[Upload], endpoint: str, ca_cert: bytes | None, wait: float, token: str | None
) -> list[Reply]:
    """All uploads at once, one thread and one channel each, released by one barrier."""
    barrier = threading.Barrier(len(uploads) + 1)
    replies: list[Reply | None] = [None] * len(uploads)

    def failed(up: Upload, code: str, message: str, started: float) -> Reply:
        return Reply(
            up.archive_path,
            started=started,
            ended=time.time(),
            grpc_code=code,
            grpc_message=message,
        )

    def collector(i: int) -> None:
        up = uploads[i]
        ch: Channel | None = None
        ready_error = ""
        try:
            ch = Channel(endpoint, ca_cert)
            ch.connect(timeout=60)
        except grpc.FutureTimeoutError:
            ready_error = "channel not ready within 60 s"
        except Exception as exc:  # reported as this collector's error, never a stuck barrier
            ready_error = f"no channel: {exc!r}"
        try:
            barrier.wait()
            started = time.time()
            if ch is None or ready_error:
                replies[i] = failed(up, "UNAVAILABLE", ready_error, started)
                return
            try:
                replies[i] = upload_one(ch.stub, up, wait, up.token or token)
            except Exception as exc:
                replies[i] = failed(up, "CLIENT_ERROR", repr(exc), started)
        finally:
            if ch is not None:
                ch.close()

    threads = [
        threading.Thread(target=collector, args=(i,), name=f"collector-{i}", daemon=True)
        for i in range(len(uploads))
    ]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    return [
        r if r is not None else failed(u, "CLIENT_ERROR", "no reply recorded", time.time())
        for r, u in zip(replies, uploads, strict=True)
    ]


def refresh(channel: Channel, reply: Reply, token: str | None) -> None:
    """Ask ``GetStatus`` for the reply's file again and fill the reply with the answer."""
    try:
        status = channel.stub.GetStatus(
            pb.GetStatusRequest(archive_path=reply.archive_path),
            timeout=30,
            metadata=call_metadata(token),
        )
        reply.fill(status)
    except grpc.RpcError as err:
        reply.grpc_code, reply.grpc_message = err.code().name, str(err.details())
