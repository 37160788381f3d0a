"""``upload-to-cloudz``: send one MRT file to the archive and report what became of it.

Collectors run it right after a file is archived locally. It is safe to run
again for the same file: the receiver never replaces an archived object.

Exit status: 0 archived, converted and loaded; 3 rejected (bad input, conflict,
bytes that do not match); 4 archived but a later stage failed or the file is
damaged (partial); 5 still running when the wait ended (ask again with
``upload-to-cloudz status``); 6 receiver unreachable or busy (also: the path is being
published by another upload, or the port speaks TLS and the endpoint said http://), or
the file could not be sent within the wait (nothing archived); 2 usage error (also a
credential that is not one line of printable ASCII: nothing sent).

A busy receiver (RESOURCE_EXHAUSTED) and a restarting one (UNAVAILABLE) are tried
again with backoff within ``--wait``: an upload is idempotent.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from tqdm import tqdm

from cloudz.archive import paths
from cloudz.ingest.endpoint import EndpointError, parse_endpoint
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.ingest.v1 import ingest_pb2_grpc as pb_grpc

CHUNK_BYTES = 1024 * 1024
#: tries of an upload that meets UNAVAILABLE (a replica restarting): uploads are idempotent
UNAVAILABLE_ATTEMPTS = 3
#: the longest pause between tries when the receiver is busy (RESOURCE_EXHAUSTED)
MAX_BUSY_PAUSE_SECONDS = 60.0
DEFAULT_WAIT_SECONDS = 900.0


class Exit(enum.IntEnum):
    OK = 0
    USAGE = 2
    REJECTED = 3
    FAILED = 4
    RUNNING = 5
    UNREACHABLE = 6


_EXIT_OF_OUTCOME = {
    pb.OUTCOME_SUCCEEDED: Exit.OK,
    pb.OUTCOME_PARTIAL: Exit.FAILED,
    pb.OUTCOME_FAILED: Exit.FAILED,
    pb.OUTCOME_RUNNING: Exit.RUNNING,
    pb.OUTCOME_REJECTED: Exit.REJECTED,
}

_REJECTED_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
}


def _progress(total: int, desc: str, enabled: bool) -> tqdm[Any]:
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
        file=sys.stderr,
        leave=False,
    )


def file_sha256(path: Path, show_progress: bool) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as f, _progress(size, "hashing", show_progress) as bar:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest(), size


def upload_requests(
    f: IO[bytes], header: pb.FileHeader, bar: tqdm[Any], sent: list[bool] | None = None
) -> Iterator[pb.UploadRequest]:
    """The header, then the file in chunks, re-hashed on the way to catch a file that changed.

    ``sent`` gets ``True`` appended once the last chunk is handed to gRPC.
    """
    yield pb.UploadRequest(header=header)
    digest = hashlib.sha256()
    while chunk := f.read(CHUNK_BYTES):
        digest.update(chunk)
        bar.update(len(chunk))
        yield pb.UploadRequest(chunk=chunk)
    if sent is not None:
        sent.append(True)
    if digest.hexdigest() != header.sha256:
        # the receiver will refuse the bytes (DATA_LOSS); say why on this side too
        click.echo("warning: the file changed while it was being uploaded", err=True)


def call_metadata(token: str | None) -> list[tuple[str, str]]:
    """The gRPC metadata that carries the collector's bearer token (none without one)."""
    return [("authorization", f"Bearer {token}")] if token else []


def _error_summary(err: grpc.RpcError) -> dict[str, Any]:
    """The status code, message and rich details of a failed call, as a dict."""
    code: grpc.StatusCode = err.code()
    out: dict[str, Any] = {"code": code.name, "message": err.details()}
    status = rpc_status.from_call(err)
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                out["reason"] = info.reason
                out["metadata"] = dict(info.metadata)
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(bad):
                out["field_violations"] = [
                    {"field": v.field, "description": v.description} for v in bad.field_violations
                ]
    return out


def _retry_delay(err: grpc.RpcError) -> float | None:
    """The receiver's ``RetryInfo`` delay, if it sent one."""
    status = rpc_status.from_call(err)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None


def _exit_of_error(err: grpc.RpcError) -> Exit:
    code = err.code()
    if code in _REJECTED_CODES:
        return Exit.REJECTED
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        # the receiver cut off a stalled or too slow stream: nothing was archived
        cut_off = _error_summary(err).get("reason") in ("UPLOAD_IDLE", "UPLOAD_TOO_SLOW")
        return Exit.UNREACHABLE if cut_off else Exit.RUNNING
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return Exit.UNREACHABLE
    return Exit.FAILED


_STAGE_WORDS = {
    pb.STAGE_STATE_UNSPECIFIED: "unknown",
    pb.STAGE_STATE_PENDING: "pending",
    pb.STAGE_STATE_RUNNING: "running",
    pb.STAGE_STATE_SUCCEEDED: "ok",
    pb.STAGE_STATE_PARTIAL: "PARTIAL",
    pb.STAGE_STATE_FAILED: "FAILED",
    pb.STAGE_STATE_SKIPPED: "skipped",
}


def repair_summary(conv: pb.ConversionStage) -> str:
    """One line of what conversion repaired or dropped inside records, by reason."""

    def by_reason(counts: Any) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"

    return (
        f"{conv.masked_prefixes} prefixes with host bits masked; records repaired: "
        f"{by_reason(conv.repairs)}; dropped: {by_reason(conv.drops)}"
    )


def human_summary(status: pb.FileStatus) -> str:
    """A few lines an operator reads at a glance."""
    archive = pb.ArchiveResult.Name(status.archive.result).removeprefix("ARCHIVE_RESULT_")
    lines = [
        f"{status.archive_path}: {pb.Outcome.Name(status.outcome).removeprefix('OUTCOME_')}",
        f"  archive     {archive.lower().replace('_', ' ')}  {status.archive.object_uri}"
        f"  ({status.archive.size} bytes, sha256 {status.archive.archived_sha256[:16]}…)",
    ]
    if status.run_id:
        conv = status.conversion
        lines.append(f"  verify      {_STAGE_WORDS[status.verify]}")
        lines.append(
            f"  conversion  {_STAGE_WORDS[conv.state]}  {conv.rows} rows from {conv.records} "
            f"records, {conv.parse_errors} parse errors"
        )
        if conv.masked_prefixes or conv.repairs or conv.drops:
            lines.append(f"              {repair_summary(conv)}")
        if conv.HasField("damage"):
            lines.append(
                f"              damage at byte {conv.damage.offset}: {conv.damage.reason} "
                f"({conv.damage.records_skipped} records skipped)"
            )
        if status.load.not_loaded:  # the load policy: archived and verified, not loaded
            lines.append(
                f"  load        {_STAGE_WORDS[status.load.state]}  {status.load.not_loaded}"
            )
        else:
            lines.append(
                f"  load        {_STAGE_WORDS[status.load.state]}  {status.load.rows_loaded} rows"
                f"{' into ' + status.load.table if status.load.table else ''}"
            )
        lines.append(f"  run         {status.run_id} ({status.run_state or 'not started'})")
        if status.run_url:
            lines.append(f"              {status.run_url}")
    unconfirmed = status.outcome == pb.OUTCOME_RUNNING and status.run_state == "unknown"
    if status.HasField("failure"):
        label = "unknown at " if unconfirmed else "failed at  "
        lines.append(f"  {label} {status.failure.stage}: {status.failure.reason}")
    if status.outcome == pb.OUTCOME_RUNNING:
        going = (
            "whether its run started is not known yet" if unconfirmed else "the run is still going"
        )
        lines.append(
            f"  {going}; ask again with: "
            f"upload-to-cloudz status -d <endpoint> {status.archive_path}"
        )
    return "\n".join(lines)


def _report(status: pb.FileStatus, as_json: bool) -> Exit:
    if as_json:
        click.echo(
            json.dumps(
                json_format.MessageToDict(status, always_print_fields_with_no_presence=True),
                indent=2,
            )
        )
    else:
        click.echo(human_summary(status))
    return _EXIT_OF_OUTCOME.get(status.outcome, Exit.FAILED)


def _report_error(err: grpc.RpcError, endpoint: str, as_json: bool) -> Exit:
    summary = _error_summary(err)
    exit_code = _exit_of_error(err)
    if err.code() == grpc.StatusCode.UNAVAILABLE:
        summary["message"] = f"receiver at {endpoint} unreachable: {summary['message']}"
    elif err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        summary["message"] = f"receiver at {endpoint} still busy: {summary['message']}"
    if as_json:
        click.echo(json.dumps({"error": summary}, indent=2))
    else:
        click.echo(f"error: {summary['code']}: {summary['message']}", err=True)
        for v in summary.get("field_violations", []):
            click.echo(f"  {v['field']}: {v['description']}", err=True)
    return exit_code


endpoint_option = click.option(
    "-d",
    "--endpoint",
    required=True,
    metavar="ENDPOINT",
    help="host:port, http://host:port (plaintext) or https://host:port (TLS).",
)
token_option = click.option(
    "--token",
    envvar="CLOUDZ_TOKEN",
    default=None,
    help="The collector's credential (env CLOUDZ_TOKEN); prefer --token-file.",
)
token_file_option = click.option(
    "--token-file",
    envvar="CLOUDZ_TOKEN_FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the collector's credential (env CLOUDZ_TOKEN_FILE).",
)


def _token(token: str | None, token_file: Path | None) -> str | None:
    """The credential, checked before anything is sent: gRPC refuses a header value with a
    control character only once the call starts, as an INTERNAL error that read as "archived,
    a later stage failed" (exit 4) though nothing was sent."""
    where = f"--token-file {token_file}" if token_file is not None else "--token/CLOUDZ_TOKEN"
    if token_file is not None:
        token = token_file.read_text().strip() or None
    if token is None:
        return None
    for i, c in enumerate(token):
        if not "!" <= c <= "~":  # printable ASCII, no space: every credential form is so
            raise click.BadParameter(
                f"the credential has {_char_name(c)} at character {i + 1}: a credential is one "
                "line of printable ASCII (czk_… or an ID token); nothing was sent",
                param_hint=where,
            )
    return token


def _char_name(c: str) -> str:
    names = {"\t": "a tab", "\n": "a newline", "\r": "a carriage return", " ": "a space"}
    return names.get(c, f"the character U+{ord(c):04X}")


ca_option = click.option(
    "--ca-cert",
    envvar="CLOUDZ_CA_CERT",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file of the CA that signed the receiver's certificate (env CLOUDZ_CA_CERT); "
    "default: the system's trusted CAs.",
)
wait_option = click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_WAIT_SECONDS,
    show_default=True,
    help="Seconds to wait for the outcome before reporting that the run is still going.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON.")


def speaks_tls(target: str, timeout: float = 5.0) -> bool:
    """Whether ``host:port`` completes a TLS handshake (its certificate is not checked: this
    only tells a TLS port from a plaintext one, to explain a refused plaintext call)."""
    import socket
    import ssl

    host, _, port = target.rpartition(":")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host.strip("[]")),
        ):
            return True
    except (OSError, ValueError):
        return False


def _plaintext_to_tls(endpoint: str, err: grpc.RpcError) -> str | None:
    """The hint for a plaintext (``http://``) call that a TLS port closed, else None."""
    if err.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    try:
        ep = parse_endpoint(endpoint)
    except EndpointError:
        return None
    if ep.tls or not speaks_tls(ep.target):
        return None
    return (
        f"error: the receiver at {ep.target} speaks TLS and this client sent plaintext "
        f"({endpoint}): use https://{ep.target} (or {ep.target}) with --ca-cert; "
        f"nothing was sent (gRPC said: {err.details()})"
    )


def _path_busy(err: grpc.RpcError) -> dict[str, str] | None:
    """The receiver's details when another upload holds the path's publishing claim."""
    summary = _error_summary(err)
    return summary.get("metadata", {}) if summary.get("reason") == "PATH_BUSY" else None


def _stub(endpoint: str, ca_cert: Path | None) -> tuple[grpc.Channel, pb_grpc.IngestServiceStub]:
    try:
        ep = parse_endpoint(endpoint)
    except EndpointError as exc:
        raise click.BadParameter(str(exc), param_hint="-d/--endpoint") from exc
    channel = ep.channel(ca_cert=ca_cert.read_bytes() if ca_cert else None)
    return channel, pb_grpc.IngestServiceStub(channel)


@click.group(invoke_without_command=True, help=__doc__)
@click.option(
    "-f",
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The MRT file to upload.",
)
@click.option(
    "-d",
    "--endpoint",
    metavar="ENDPOINT",
    help="host:port, http://host:port (plaintext) or https://host:port (TLS).",
)
@click.option(
    "--archive-path",
    default=None,
    help="Archive path to store the file under; derived from the file's "
    "<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/ location when not given.",
)
@token_option
@token_file_option
@ca_option
@wait_option
@json_option
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
)
@click.pass_context
def main(
    ctx: click.Context,
    file_: Path | None,
    endpoint: str | None,
    archive_path: str | None,
    token: str | None,
    token_file: Path | None,
    ca_cert: Path | None,
    wait_seconds: float,
    as_json: bool,
    progress: bool | None,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if file_ is None or endpoint is None:
        raise click.UsageError("upload needs -f <file> and -d <endpoint>")
    try:
        target = (
            paths.parse(archive_path) if archive_path else paths.from_local_file(file_.resolve())
        )
    except paths.ArchivePathError as exc:
        raise click.BadParameter(str(exc), param_hint="--archive-path") from exc
    channel, stub = _stub(endpoint, ca_cert)  # a bad endpoint fails before hashing
    show = sys.stderr.isatty() if progress is None else progress
    sha256, size = file_sha256(file_, show)
    header = pb.FileHeader(archive_path=target.path, sha256=sha256, size=size)
    metadata = call_metadata(_token(token, token_file))
    deadline = time.monotonic() + wait_seconds
    unavailable = busy = 0
    try:
        while True:
            sent: list[bool] = []
            try:
                with file_.open("rb") as f, _progress(size, "uploading", show) as bar:
                    status = stub.Upload(
                        upload_requests(f, header, bar, sent),
                        timeout=max(deadline - time.monotonic(), 0.001),
                        metadata=metadata,
                    )
                break
            except grpc.RpcError as err:
                code = err.code()
                pause = None
                tls_refused = "CERTIFICATE_VERIFY_FAILED" in (err.details() or "")
                if tls_refused:
                    click.echo(
                        "error: the receiver's certificate is not signed by a CA this client "
                        "trusts: give the archive's CA with --ca-cert; nothing was sent",
                        err=True,
                    )
                    ctx.exit(Exit.UNREACHABLE)
                plaintext_hint = _plaintext_to_tls(endpoint, err)
                if plaintext_hint is not None:
                    click.echo(plaintext_hint, err=True)
                    ctx.exit(Exit.UNREACHABLE)
                busy_path = _path_busy(err)
                if busy_path is not None:
                    # another upload holds the path's publishing claim: not the receiver's
                    # health; once the claim is stale a new upload takes it over
                    pause = _retry_delay(err) or 1.0
                    if time.monotonic() + pause < deadline:
                        click.echo(f"{err.details()}: trying again in {pause:.0f} s", err=True)
                        time.sleep(pause)
                        channel.close()
                        channel, stub = _stub(endpoint, ca_cert)
                        continue
                    click.echo(
                        f"error: not archived: {err.details()}. Upload again in "
                        f"{pause:.0f} s, or give --wait more than {pause:.0f} s to wait here",
                        err=True,
                    )
                    ctx.exit(Exit.UNREACHABLE)
                if code == grpc.StatusCode.UNAVAILABLE and unavailable + 1 < UNAVAILABLE_ATTEMPTS:
                    # a replica restarting or draining: uploading again is always safe
                    unavailable += 1
                    pause = 2.0**unavailable
                elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    # busy: wait as long as the receiver asks, longer each time, with jitter
                    busy += 1
                    asked = _retry_delay(err) or 1.0
                    pause = min(asked * 2 ** (busy - 1), MAX_BUSY_PAUSE_SECONDS)
                    pause *= random.uniform(1.0, 1.5)
                if pause is not None and time.monotonic() + pause < deadline:
                    click.echo(f"{err.details()}: trying again in {pause:.1f} s", err=True)
                    time.sleep(pause)
                    # a new connection: behind a load balancer (or SO_REUSEPORT) it may reach
                    # another replica, where the old one would ask the same busy replica again
                    channel.close()
                    channel, stub = _stub(endpoint, ca_cert)
                    continue
                if code == grpc.StatusCode.DEADLINE_EXCEEDED and not sent:
                    click.echo(
                        f"error: the file was not sent completely within --wait "
                        f"{wait_seconds:g} s: nothing was archived; give more time",
                        err=True,
                    )
                    ctx.exit(Exit.UNREACHABLE)
                ctx.exit(_report_error(err, endpoint, as_json))
    finally:
        channel.close()
    ctx.exit(_report(status, as_json))


@main.command(help="Ask again what became of an archived file.")
@click.argument("archive_path")
@endpoint_option
@token_option
@token_file_option
@ca_option
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for a running file's outcome.",
)
@json_option
@click.pass_context
def status(
    ctx: click.Context,
    archive_path: str,
    endpoint: str,
    token: str | None,
    token_file: Path | None,
    ca_cert: Path | None,
    wait_seconds: float,
    as_json: bool,
) -> None:
    channel, stub = _stub(endpoint, ca_cert)
    with channel:
        try:
            reply = stub.GetStatus(
                pb.GetStatusRequest(archive_path=archive_path),
                timeout=wait_seconds,
                metadata=call_metadata(_token(token, token_file)),
            )
        except grpc.RpcError as err:
            ctx.exit(_report_error(err, endpoint, as_json))
    ctx.exit(_report(reply, as_json))


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
