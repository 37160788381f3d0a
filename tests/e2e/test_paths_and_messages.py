"""Issue 20, items 8 and 9, through the real receiver and ``upload-to-cloudz``.

Item 9: a path is archived for good, so the receiver checks it first: the file name's grammar
in its kind folder, the month folder against the name's date, no name dated after now plus
a small skew, the suffix against the content's first bytes. Each refusal is INVALID_ARGUMENT
naming the rule, and nothing is stored.

Item 8: three failures that said something else than what happened (a path held by another
upload's claim read "receiver unreachable", plaintext to the TLS port read "Socket closed", a
credential with a tab read "archived, a later stage failed").
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from samples import SAMPLES_DIR
from stack_session import BIN, Stack

from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.ingest.v1 import ingest_pb2_grpc as pb_grpc
from cloudz.warehouse.clients import storage_client

pytestmark = pytest.mark.stack

RAW = (SAMPLES_DIR / "quagga_rib").read_bytes()  # raw MRT


def _bucket(stack: Stack) -> Any:
    return storage_client(stack.settings).bucket(stack.settings.bucket)


def _work_bucket(stack: Stack) -> Any:
    """Where staging objects and publishing claims are (the stack's second bucket)."""
    return storage_client(stack.settings).bucket(stack.settings.working_bucket)


def _names_under(stack: Stack, prefix: str) -> list[str]:
    return [b.name for b in _work_bucket(stack).list_blobs(prefix=prefix)]


def _upload(stack: Stack, path: str, data: bytes, chunk: int = 1024 * 1024) -> Any:
    """Upload with the gRPC client (the stack's own credential); the reply or the error."""

    def requests() -> Iterator[pb.UploadRequest]:
        header = pb.FileHeader(
            archive_path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data)
        )
        yield pb.UploadRequest(header=header)
        for i in range(0, len(data), chunk):
            yield pb.UploadRequest(chunk=data[i : i + chunk])

    with stack.channel() as channel:
        try:
            return pb_grpc.IngestServiceStub(channel).Upload(
                requests(), timeout=60, metadata=stack.metadata
            )
        except grpc.RpcError as err:
            return err


def _info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return error_details_pb2.ErrorInfo()


def _cli(stack: Stack, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "upload-to-cloudz"), *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- item 9: paths checked before they are archived for ever ---------------------------------
@pytest.mark.parametrize(
    ("path", "rule"),
    [
        # a December file in the November folder
        ("sec-path/bgpdata/2026.11/UPDATES/updates.20261207.0000.bz2", "month-folder"),
        # an updates. name under RIBS
        ("sec-path/bgpdata/2026.11/RIBS/updates.20261101.0000.bz2", "kind-prefix"),
        ("sec-path/bgpdata/2026.11/UPDATES/notes.txt", "file-name"),
        ("sec-path/bgpdata/2026.11/RIBS/rib.20261131.0000.bz2", "name-date"),
        # a collector named like the layout's own directory
        ("bgpdata/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2", "reserved-collector"),
        # dated in the future: whoever wrote it first would own the path
        ("sec-path/bgpdata/2099.12/UPDATES/updates.20991231.2359.bz2", "future-date"),
        # years the catalog cannot hold or the archive never had (issue 20, item 6)
        ("sec-path/bgpdata/0000.01/UPDATES/updates.00010101.0000.bz2", "archive-years"),
        ("sec-path/bgpdata/1999.12/UPDATES/updates.19991231.2345.bz2", "archive-years"),
    ],
)
def test_a_path_against_the_archive_rules_is_refused_by_rule_and_nothing_is_stored(
    stack: Stack, path: str, rule: str
) -> None:
    reply = _upload(stack, path, bz2.compress(RAW))
    assert isinstance(reply, grpc.RpcError), reply
    assert reply.code() == grpc.StatusCode.INVALID_ARGUMENT, reply.details()
    info = _info(reply)
    assert (info.reason, info.metadata["rule"]) == ("BAD_ARCHIVE_PATH", rule), reply.details()
    assert f"rule {rule}" in (reply.details() or "")
    assert _bucket(stack).get_blob(path) is None


def test_a_name_dated_beyond_the_skew_is_refused_and_one_within_it_is_not(stack: Stack) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(hours=2)  # the stack's skew: one hour
    path = f"sec-path/bgpdata/{later:%Y.%m}/RIBS/rib.{later:%Y%m%d.%H%M}.bz2"
    reply = _upload(stack, path, bz2.compress(RAW))
    assert isinstance(reply, grpc.RpcError)
    assert _info(reply).metadata["rule"] == "future-date"
    soon = now + timedelta(minutes=20)  # a collector's clock a little ahead: accepted
    ok = f"sec-path/bgpdata/{soon:%Y.%m}/RIBS/rib.{soon:%Y%m%d.%H%M}.bz2"
    proc = _cli(stack, "-f", _write(stack, bz2.compress(RAW), "soon.bz2"), "-d", stack.endpoint,
                "--archive-path", ok, "--wait", "2")  # fmt: skip
    assert proc.returncode in (0, 5), proc.stderr  # archived; the run may still be going
    assert _bucket(stack).get_blob(ok) is not None


def _write(stack: Stack, data: bytes, name: str) -> str:
    out = stack.settings.state_dir / "test-paths" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return str(out)


@pytest.mark.parametrize(
    ("name", "data", "chunk"),
    [
        ("rib.20261101.0000.bz2", RAW, 1024 * 1024),  # raw MRT named .bz2
        ("rib.20261101.0015.bz2", RAW, 1),  # the same, one byte per message
        ("rib.20261101.0030.gz", bz2.compress(RAW), 1024 * 1024),  # bzip2 named .gz
        ("rib.20261101.0045", gzip.compress(RAW), 1024 * 1024),  # gzip with no suffix
    ],
)
def test_content_that_is_not_what_its_suffix_says_is_refused_and_nothing_is_stored(
    stack: Stack, name: str, data: bytes, chunk: int
) -> None:
    path = f"sec-magic/bgpdata/2026.11/RIBS/{name}"
    reply = _upload(stack, path, data[:4096] if chunk == 1 else data, chunk=chunk)
    assert isinstance(reply, grpc.RpcError), reply
    assert reply.code() == grpc.StatusCode.INVALID_ARGUMENT, reply.details()
    info = _info(reply)
    assert (info.reason, info.metadata["rule"]) == ("SUFFIX_MISMATCH", "suffix-content")
    assert _bucket(stack).get_blob(path) is None
    assert not [n for n in _names_under(stack, "_claims/") if n.endswith(path)]


def test_the_cli_reports_a_refused_suffix_as_rejected(stack: Stack) -> None:
    path = "sec-magic/bgpdata/2026.11/UPDATES/updates.20261101.0100.bz2"
    proc = _cli(stack, "-f", _write(stack, RAW, "raw-named-bz2"), "-d", stack.endpoint,
                "--archive-path", path, "--wait", "30")  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "the name says bz2 but the content is not bzip2" in proc.stderr
    assert _bucket(stack).get_blob(path) is None


# --- item 8: messages that say what happened -------------------------------------------------
def test_a_credential_with_a_tab_is_a_usage_error_and_nothing_is_sent(stack: Stack) -> None:
    path = "sec-msg/bgpdata/2026.11/RIBS/rib.20261101.0000.bz2"
    for bad in (stack.token[:8] + "\t" + stack.token[8:], stack.token[:8] + "\n" + stack.token[8:]):
        token_file = Path(_write(stack, bad.encode(), "tab.token"))
        data = _write(stack, bz2.compress(RAW), "msg.bz2")
        proc = _cli(stack, "-f", data, "-d", stack.endpoint, "--archive-path", path,
                    "--token-file", str(token_file), "--wait", "30")  # fmt: skip
        assert proc.returncode == 2, proc.stderr  # before: 4, "archived, later stage failed"
        assert "at character 9" in proc.stderr and "nothing was sent" in proc.stderr
    assert _bucket(stack).get_blob(path) is None


def test_plaintext_to_the_tls_port_says_so(stack: Stack) -> None:
    path = "sec-msg/bgpdata/2026.11/RIBS/rib.20261101.0200.bz2"
    target = f"127.0.0.1:{stack.settings.receiver_port}"
    started = time.monotonic()
    proc = _cli(stack, "-f", _write(stack, bz2.compress(RAW), "plain.bz2"),
                "-d", f"http://{target}", "--archive-path", path, "--wait", "60")  # fmt: skip
    took = time.monotonic() - started
    assert proc.returncode == 6, proc.stderr
    assert f"speaks TLS and this client sent plaintext (http://{target})" in proc.stderr
    assert f"use https://{target}" in proc.stderr
    assert took < 20, took  # no tries again on a port that will never answer plaintext
    assert _bucket(stack).get_blob(path) is None


def test_a_path_held_by_another_uploads_claim_says_so_within_the_wait(stack: Stack) -> None:
    """A writer that died between claiming and publishing leaves its claim for 5 minutes.
    Before: three tries of 60 s each, then "receiver … unreachable" (exit 6 after 196 s);
    with a short --wait the client's deadline came first: exit 5, "still running"."""
    path = "sec-msg/bgpdata/2026.11/RIBS/rib.20261101.0400.bz2"
    claim = _work_bucket(stack).blob(f"_claims/{path}")
    claim.upload_from_string('{"sha256": "00", "writer": "dead-host:4242"}', if_generation_match=0)
    try:
        started = time.monotonic()
        proc = _cli(stack, "-f", _write(stack, bz2.compress(RAW), "claimed.bz2"),
                    "-d", stack.endpoint, "--archive-path", path, "--wait", "20")  # fmt: skip
        took = time.monotonic() - started
    finally:
        claim.delete()
    assert proc.returncode == 6, proc.stderr
    assert "unreachable" not in proc.stderr
    assert "holds the publishing claim" in proc.stderr and "dead-host:4242" in proc.stderr
    assert "not archived" in proc.stderr and "Upload again in" in proc.stderr
    assert took < 30, took
    assert _bucket(stack).get_blob(path) is None
