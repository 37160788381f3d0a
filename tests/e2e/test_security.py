"""The receiver as a hostile network sees it: TLS, credentials, bounded resources, races.

Every test talks to real processes of the session stack (and, where a test needs a
given replica, one more real replica on its own port) and asserts three things:
what the client got, what the bucket holds, and what Airflow runs exist.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from extra_replica import extra_replica
from free_ports import free_ports
from google.auth import crypt, jwt
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from prometheus_client.parser import text_string_to_metric_families
from samples import SAMPLES_DIR
from stack_session import BIN, Stack, issue_token, upload_cli

from cloudz.archive import paths
from cloudz.collector_credentials import CredentialFile
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.ingest.v1 import ingest_pb2_grpc as pb_grpc
from cloudz.stack.local_tls import make_ca
from cloudz.warehouse.clients import bigquery_client, count_file_rows, storage_client

pytestmark = pytest.mark.stack

#: RIBs dumped 2017-02-11 08:40 and 08:28 UTC: uploaded as rib.20170211.HHMM in 2017.02, as a
#: file's rows are loaded only within a day of the time in its name
SMALL = SAMPLES_DIR / "quagga_rib"
OTHER = SAMPLES_DIR / "bird-mrtdump_rib"
#: each channel its own connection (else the process shares one among them)
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


# --- helpers -----------------------------------------------------------------
def _refused(stack: Stack, reason: str, metrics_ports: list[int] | None = None) -> float:
    """``cloudz_calls_refused_total`` for ``reason``, summed over the replicas."""
    ports = metrics_ports or [
        stack.settings.receiver_metrics_port + i for i in range(stack.settings.receiver_replicas)
    ]
    total = 0.0
    for port in ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            if family.name == "cloudz_calls_refused":
                total += sum(
                    s.value
                    for s in family.samples
                    if s.name.endswith("_total") and s.labels["reason"] == reason
                )
    return total


def _reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def _blob(stack: Stack, path: str) -> Any:
    return storage_client(stack.settings).bucket(stack.settings.bucket).get_blob(path)


def _cli(
    stack: Stack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "upload-to-cloudz"), *args],
        env=env if env is not None else stack.env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def _header(path: str, data: bytes) -> pb.FileHeader:
    return pb.FileHeader(archive_path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _runs_of_path(stack: Stack, path: str) -> list[str]:
    """The ids of every run of any version of the file at ``path``."""
    with contextlib.closing(stack.airflow()) as client:
        reply = client.get("/api/v2/dags/mrt_file/dagRuns", params={"limit": 1000})
        reply.raise_for_status()
    prefix = f"mrt:{path.replace('/', '~')}:"
    return [r["dag_run_id"] for r in reply.json()["dag_runs"] if r["dag_run_id"].startswith(prefix)]


# --- TLS -----------------------------------------------------------------------
def test_the_port_speaks_tls_only(stack: Stack) -> None:
    plain = grpc.insecure_channel(stack.settings.receiver_endpoint)
    with plain, pytest.raises(grpc.RpcError) as err:
        health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with stack.channel() as tls:
        reply = health_pb2_grpc.HealthStub(tls).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_client_trusting_another_ca_is_refused_and_sends_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    _key, other = make_ca("not the archive's CA")
    ca = tmp_path / "other-ca.pem"
    ca.write_bytes(other.public_bytes(serialization.Encoding.PEM))
    path = "sec-tls/bgpdata/2017.02/RIBS/rib.20170211.0000"
    proc = _cli(stack, "-f", str(SMALL), "-d", stack.endpoint, "--archive-path", path,
                "--ca-cert", str(ca), "--wait", "30")  # fmt: skip
    assert proc.returncode == 6, proc.stderr
    assert "not signed by a CA this client trusts" in proc.stderr
    assert _blob(stack, path) is None


def test_plaintext_is_refused_off_loopback_on_both_sides(stack: Stack) -> None:
    (port,) = free_ports(1)
    env = {**stack.env, "CLOUDZ_RECEIVER_PLAINTEXT": "1", "CLOUDZ_RECEIVER_HOST": "0.0.0.0"}
    server = subprocess.run(
        [sys.executable, "-m", "ingest_service.server", "--port", str(port)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert server.returncode == 2
    assert "plaintext refused on 0.0.0.0" in server.stderr
    client = _cli(stack, "-f", str(SMALL), "-d", "http://192.0.2.1:50051",
                  "--archive-path", "sec-tls/bgpdata/2017.02/RIBS/rib.20170211.0015")  # fmt: skip
    assert client.returncode == 2
    assert "plaintext is refused off loopback" in client.stderr


def test_plaintext_on_loopback_only_when_asked(stack: Stack) -> None:
    with extra_replica(stack, CLOUDZ_RECEIVER_PLAINTEXT="1") as replica:
        path = "sec-tls/bgpdata/2017.02/RIBS/rib.20170211.0030"
        code, reply = upload_cli(
            stack, SMALL, path, wait=120, endpoint=f"http://127.0.0.1:{replica.port}"
        )
    assert code == 0, reply
    assert reply["archive"]["result"] == "ARCHIVE_RESULT_STORED"


# --- credentials -----------------------------------------------------------------
def test_credentials_are_checked_reloaded_and_never_logged(stack: Stack, tmp_path: Path) -> None:
    before = {r: _refused(stack, r) for r in
              ("missing_credential", "permission_denied", "revoked_credential")}  # fmt: skip
    path_a = "sec-a/bgpdata/2017.02/RIBS/rib.20170211.0000"
    no_token = {
        k: v for k, v in stack.env.items() if k not in ("CLOUDZ_TOKEN_FILE", "CLOUDZ_TOKEN")
    }

    # no credential: refused before a byte is stored
    proc = _cli(stack, "-f", str(SMALL), "-d", stack.endpoint, "--archive-path", path_a,
                "--json", env=no_token)  # fmt: skip
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["error"]["code"] == "UNAUTHENTICATED"
    assert _blob(stack, path_a) is None

    # a credential issued while the receivers run works at once, for its collector only
    token_file = tmp_path / "sec-a.token"
    credential_id = issue_token(stack, "sec-a host", "sec-a", token_file)
    code, reply = upload_cli(stack, SMALL, path_a, wait=120, token_file=token_file)
    assert code == 0, reply
    assert reply["archive"]["result"] == "ARCHIVE_RESULT_STORED"

    path_b = "sec-b/bgpdata/2017.02/RIBS/rib.20170211.0000"
    proc = _cli(stack, "-f", str(SMALL), "-d", stack.endpoint, "--archive-path", path_b,
                "--token-file", str(token_file), "--json")  # fmt: skip
    assert proc.returncode == 3
    error = json.loads(proc.stdout)["error"]
    assert (error["code"], error["reason"]) == ("PERMISSION_DENIED", "PERMISSION_DENIED")
    assert _blob(stack, path_b) is None

    # revoked: refused from the next call on, without a restart
    revoked = stack.run(str(BIN / "cloudz-credentials"), "revoke", credential_id)
    assert revoked.returncode == 0, revoked.stderr
    path_a2 = "sec-a/bgpdata/2017.02/RIBS/rib.20170211.0015"
    proc = _cli(stack, "-f", str(SMALL), "-d", stack.endpoint, "--archive-path", path_a2,
                "--token-file", str(token_file), "--json")  # fmt: skip
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["error"]["reason"] == "REVOKED_CREDENTIAL"
    assert _blob(stack, path_a2) is None

    for reason, was in before.items():
        assert _refused(stack, reason) >= was + 1, reason
    # the receivers log credential ids, never a secret
    token = token_file.read_text().strip()
    # czk_<id>_<secret>: the secret is base64url, "_" among its characters (split from the left)
    secret = token.split("_", 2)[2]
    assert len(secret) == 43, token
    for log in stack.settings.logs_dir.glob("receiver-*.log"):
        assert token not in log.read_text(errors="replace")
        assert secret not in log.read_text(errors="replace")
    listed = stack.run(str(BIN / "cloudz-credentials"), "list", "--json")
    assert secret not in listed.stdout
    assert secret not in stack.settings.credentials_file.read_text()


class _Certs(http.server.BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: object) -> None:
        pass


def _signing_key(kid: str) -> tuple[crypt.RSASigner, str]:
    """A key like Google's: a signer, and its certificate as Google publishes it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kid)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(dt.datetime(2020, 1, 1))
        .not_valid_after(dt.datetime(2040, 1, 1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = crypt.RSASigner.from_string(pem, key_id=kid)  # type: ignore[no-untyped-call]
    return signer, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_google_id_tokens_map_service_accounts_to_collectors(stack: Stack) -> None:
    """The Cloud Run path: ID tokens verified with google-auth against published keys.

    The keys are served by a real HTTP server of the test in Google's format
    (key id → PEM certificate); the receiver fetches and verifies as it would Google's.
    """
    signer, cert = _signing_key("k1")
    rogue, _ = _signing_key("k1")
    _Certs.body = json.dumps({"k1": cert}).encode()
    certs = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Certs)
    threading.Thread(target=certs.serve_forever, daemon=True).start()
    audience = "https://ingest.example.org"
    email = "collector-sa@routeviews.iam.gserviceaccount.com"
    added = stack.run(str(BIN / "cloudz-credentials"), "add-service-account", email, "-c", "sec-sa")
    assert added.returncode == 0, added.stderr

    def token(signer: crypt.RSASigner, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + 600,
            "sub": "1",
        }
        payload.update(claims)
        encoded: bytes = jwt.encode(signer, payload)  # type: ignore[no-untyped-call]
        return encoded.decode()

    data = SMALL.read_bytes()
    try:
        with (
            extra_replica(
                stack,
                CLOUDZ_RECEIVER_ID_TOKEN_AUDIENCE=audience,
                CLOUDZ_RECEIVER_ID_TOKEN_CERTS_URL=f"http://127.0.0.1:{certs.server_port}/certs",
            ) as replica,
            replica.channel() as channel,
        ):
            stub = pb_grpc.IngestServiceStub(channel)

            def upload(path: str, credential: str) -> pb.FileStatus:
                reply: pb.FileStatus = stub.Upload(
                    iter([pb.UploadRequest(header=_header(path, data)),
                          pb.UploadRequest(chunk=data)]),
                    timeout=20,
                    metadata=[("authorization", f"Bearer {credential}")],
                )  # fmt: skip
                return reply

            good = "sec-sa/bgpdata/2017.02/RIBS/rib.20170211.0000"
            assert upload(good, token(signer)).archive.result == pb.ARCHIVE_RESULT_STORED
            for why, credential, code, path in [
                ("wrong audience", token(signer, aud="https://elsewhere"),
                 grpc.StatusCode.UNAUTHENTICATED, "sec-sa/bgpdata/2017.02/RIBS/rib.20170211.0015"),
                ("not Google's key", token(rogue),
                 grpc.StatusCode.UNAUTHENTICATED, "sec-sa/bgpdata/2017.02/RIBS/rib.20170211.0030"),
                ("expired", token(signer, iat=1, exp=2),
                 grpc.StatusCode.UNAUTHENTICATED, "sec-sa/bgpdata/2017.02/RIBS/rib.20170211.0045"),
                ("unmapped account", token(signer, email="other@x.iam.gserviceaccount.com"),
                 grpc.StatusCode.UNAUTHENTICATED, "sec-sa/bgpdata/2017.02/RIBS/rib.20170211.0100"),
                ("another collector", token(signer),
                 grpc.StatusCode.PERMISSION_DENIED,
                 "sec-other/bgpdata/2017.02/RIBS/rib.20170211.0000"),
            ]:  # fmt: skip
                with pytest.raises(grpc.RpcError) as err:
                    upload(path, credential)
                assert err.value.code() == code, why
                assert _blob(stack, path) is None, why
    finally:
        certs.shutdown()


# --- bounded resources --------------------------------------------------------
#: the stalled uploads' names: rib.20170212.HHMM, one minute each
IDLE_PREFIX = "sec-idle/bgpdata/2017.02/RIBS/rib.20170212."


def test_idle_streams_cannot_starve_a_replica(stack: Stack, tmp_path: Path) -> None:
    """100 streams that send a header and then nothing, on 4 connections to one replica."""
    idle_token = tmp_path / "idle.token"
    issue_token(stack, "idle client", "sec-idle", idle_token)
    token = idle_token.read_text().strip()
    data = SMALL.read_bytes()
    release = threading.Event()

    def stalled(path: str) -> Iterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=_header(path, data))
        release.wait(300)

    with extra_replica(stack) as replica:
        channels = [replica.channel(OWN_CONNECTION) for _ in range(4)]
        idle_before = _refused(stack, "idle", [replica.metrics_port])
        try:
            calls = [
                pb_grpc.IngestServiceStub(channels[i % 4]).Upload.future(
                    stalled(f"{IDLE_PREFIX}{i // 60:02d}{i % 60:02d}"),
                    timeout=280,
                    metadata=[("authorization", f"Bearer {token}")],
                )
                for i in range(100)
            ]
            # meanwhile: health answers, another collector uploads, and the idle client's own
            # upload is told to come back later, which the CLI does until it gets through
            with replica.channel() as probe:
                health = health_pb2_grpc.HealthStub(probe).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            other = "sec-other-collector/bgpdata/2017.02/RIBS/rib.20170211.0000"
            code, reply = upload_cli(stack, SMALL, other, wait=120, endpoint=replica.endpoint)
            assert (code, reply["outcome"]) == (0, "OUTCOME_SUCCEEDED"), reply
            own = "sec-idle/bgpdata/2017.02/RIBS/rib.20170211.0000"
            proc = _cli(stack, "-f", str(SMALL), "-d", replica.endpoint, "--archive-path", own,
                        "--token-file", str(idle_token), "--json", "--wait", "240")  # fmt: skip
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "trying again" in proc.stderr  # it was refused while the idle ones held on

            ended: dict[tuple[grpc.StatusCode, str], int] = {}
            for call in calls:
                err = call.exception(timeout=280)
                assert isinstance(err, grpc.RpcError), "an idle stream was served"
                key = (err.code(), _reason(err))
                ended[key] = ended.get(key, 0) + 1
        finally:
            release.set()
            for ch in channels:
                ch.close()
        per_credential = stack.settings.receiver_uploads_per_collector
        assert ended == {
            (grpc.StatusCode.DEADLINE_EXCEEDED, "UPLOAD_IDLE"): per_credential,
            (grpc.StatusCode.RESOURCE_EXHAUSTED, "CREDENTIAL_BUSY"): 100 - per_credential,
        }
        assert _refused(stack, "idle", [replica.metrics_port]) == idle_before + per_credential
    bucket = storage_client(stack.settings).bucket(stack.settings.bucket)
    assert not [b.name for b in bucket.list_blobs(prefix=IDLE_PREFIX)]


# --- races ----------------------------------------------------------------------
def test_two_different_files_to_one_path_at_once(stack: Stack) -> None:
    """20 rounds: exactly one client is told STORED and the object holds its bytes."""
    files = [SMALL.read_bytes(), OTHER.read_bytes()]

    def upload(path: str, data: bytes) -> pb.FileStatus:
        with stack.channel(options=OWN_CONNECTION) as channel:
            reply: pb.FileStatus = pb_grpc.IngestServiceStub(channel).Upload(
                iter([pb.UploadRequest(header=_header(path, data)), pb.UploadRequest(chunk=data)]),
                timeout=60,
                metadata=stack.metadata,
            )
        return reply

    with ThreadPoolExecutor(2) as pool:
        for i in range(20):
            path = f"sec-race/bgpdata/2017.02/RIBS/rib.20170211.{i:04d}"
            a, b = pool.map(lambda d: upload(path, d), files)  # noqa: B023
            results = {a.archive.result: a, b.archive.result: b}
            assert set(results) == {pb.ARCHIVE_RESULT_STORED, pb.ARCHIVE_RESULT_CONFLICT}, i
            winner = results[pb.ARCHIVE_RESULT_STORED]
            loser = results[pb.ARCHIVE_RESULT_CONFLICT]
            assert loser.outcome == pb.OUTCOME_REJECTED
            assert loser.archive.archived_sha256 == winner.sha256
            blob = _blob(stack, path)
            assert blob.metadata["sha256"] == winner.sha256
            assert hashlib.sha256(blob.download_as_bytes()).hexdigest() == winner.sha256
    work = storage_client(stack.settings).bucket(stack.settings.working_bucket)
    assert not list(work.list_blobs(prefix="_claims/"))


def test_the_same_file_on_two_replicas_at_once(stack: Stack) -> None:
    """One object, one run, one set of rows, whichever replica gets there first."""
    path = "sec-same/bgpdata/2017.02/RIBS/rib.20170211.0000"
    with extra_replica(stack) as replica, ThreadPoolExecutor(2) as pool:
        endpoints = [replica.endpoint, stack.endpoint]
        replies = list(
            pool.map(lambda ep: upload_cli(stack, SMALL, path, wait=180, endpoint=ep), endpoints)
        )
    results = sorted(reply["archive"]["result"] for _code, reply in replies)
    assert results == ["ARCHIVE_RESULT_ALREADY_ARCHIVED", "ARCHIVE_RESULT_STORED"]
    assert [code for code, _ in replies] == [0, 0], replies
    (run_id,) = {reply["runId"] for _code, reply in replies}
    assert run_id == paths.run_id(paths.parse(path), hashlib.sha256(SMALL.read_bytes()).hexdigest())
    assert _runs_of_path(stack, path) == [run_id]
    rows = int(replies[0][1]["conversion"]["rows"])
    assert rows > 0
    assert count_file_rows(bigquery_client(stack.settings), stack.settings, path) == rows


# --- hostile headers ------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "sha_suffix", "reason", "says"),
    [
        ("sec-uni/bgpdata/\uff12\uff10\uff12\uff16.\uff11\uff11/RIBS/f", "", "BAD_ARCHIVE_PATH",
         "non-ASCII"),
        ("sec-uni/bgpdata/2026.\u0661\u0661/RIBS/f", "", "BAD_ARCHIVE_PATH", "non-ASCII"),
        ("sec-uni/bgpdata/2017.02/RIBS/rib.20170211.0000", "\n", "BAD_SHA256", "whitespace"),
    ],
)  # fmt: skip
def test_hostile_headers_are_refused_by_name_and_nothing_is_stored(
    stack: Stack, path: str, sha_suffix: str, reason: str, says: str
) -> None:
    data = SMALL.read_bytes()
    header = _header(path, data)
    header.sha256 += sha_suffix
    with stack.channel() as channel, pytest.raises(grpc.RpcError) as err:
        pb_grpc.IngestServiceStub(channel).Upload(
            iter([pb.UploadRequest(header=header), pb.UploadRequest(chunk=data)]),
            timeout=30,
            metadata=stack.metadata,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _reason(err.value) == reason
    assert says in str(err.value.details())
    assert _blob(stack, path) is None
    assert _runs_of_path(stack, path) == []


# --- found by a hostile tester ----------------------------------------------------
def test_reflection_streams_are_bounded_and_cut_when_idle(stack: Stack) -> None:
    """Reflection answers anyone: 20 silent reflection streams must not fill the threads."""
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    release = threading.Event()

    def silent() -> Iterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")
        release.wait(120)

    with extra_replica(stack) as replica, replica.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        streams = [stub.ServerReflectionInfo(silent(), timeout=100) for _ in range(20)]
        try:
            ends: dict[str, int] = {}
            with replica.channel() as probe:
                health = health_pb2_grpc.HealthStub(probe).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            for stream in streams:
                try:
                    for _ in stream:
                        pass
                    ends["OK"] = ends.get("OK", 0) + 1
                except grpc.RpcError as err:
                    key = f"{err.code().name}/{_reason(err)}"
                    ends[key] = ends.get(key, 0) + 1
        finally:
            release.set()
    assert ends == {"DEADLINE_EXCEEDED/STREAM_IDLE": 4, "RESOURCE_EXHAUSTED/REPLICA_BUSY": 16}


def test_trickles_empty_chunks_and_duplicate_credentials_are_refused(
    stack: Stack, tmp_path: Path
) -> None:
    data = SMALL.read_bytes()
    release = threading.Event()

    def trickle(path: str, announced: int | None = None) -> Iterator[pb.UploadRequest]:
        """One byte every 2 s, well inside the idle limit, far below the minimum rate."""
        header = _header(path, data)
        if announced is not None:
            header.size = announced
        yield pb.UploadRequest(header=header)
        for i in range(len(data)):
            if release.wait(2):
                return
            yield pb.UploadRequest(chunk=data[i : i + 1])

    def refused(stub: pb_grpc.IngestServiceStub, path: str, announced: int | None) -> None:
        # the client's 200 s deadline would end it too, but with no reason: the reason says
        # the receiver cut it (before the fix, 8 GiB announced allowed ~36 hours)
        with pytest.raises(grpc.RpcError) as err:
            stub.Upload(trickle(path, announced), timeout=200, metadata=stack.metadata)
        assert (err.value.code(), _reason(err.value)) == (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "UPLOAD_TOO_SLOW",
        )

    with stack.channel() as channel:
        stub = pb_grpc.IngestServiceStub(channel)
        slow = "sec-slow/bgpdata/2017.02/RIBS/rib.20170211.0000"
        # a header announcing 8 GiB buys no more time than the bytes that arrive: the drip
        # is cut after the grace, not after 8 GiB at the minimum rate (~36 hours)
        huge = "sec-slow/bgpdata/2017.02/RIBS/rib.20170211.0015"
        try:
            with ThreadPoolExecutor(2) as pool:
                cut = [
                    pool.submit(refused, stub, slow, None),
                    pool.submit(refused, stub, huge, 8 * 1024**3),
                ]
                for c in cut:
                    c.result()
        finally:
            release.set()
        assert _blob(stack, slow) is None and _blob(stack, huge) is None

        empty = "sec-slow/bgpdata/2017.02/RIBS/rib.20170211.0030"
        with pytest.raises(grpc.RpcError) as err:
            stub.Upload(
                iter([pb.UploadRequest(header=_header(empty, data)), pb.UploadRequest(chunk=b"")]),
                timeout=30,
                metadata=stack.metadata,
            )
        assert (err.value.code(), _reason(err.value)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "EMPTY_CHUNK",
        )

        twice = [*stack.metadata, ("authorization", "Bearer czk_000000000000_" + "A" * 43)]
        with pytest.raises(grpc.RpcError) as err:
            stub.GetStatus(pb.GetStatusRequest(archive_path=slow), timeout=30, metadata=twice)
        assert (err.value.code(), _reason(err.value)) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "MALFORMED_CREDENTIAL",
        )


def test_a_credential_revoked_during_an_upload_stores_nothing(stack: Stack, tmp_path: Path) -> None:
    token_file = tmp_path / "revoked-mid.token"
    credential_id = issue_token(stack, "revoked mid-stream", "sec-revoke", token_file)
    data = SMALL.read_bytes()
    path = "sec-revoke/bgpdata/2017.02/RIBS/rib.20170211.0000"
    half = threading.Event()
    revoked = threading.Event()

    def requests() -> Iterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=_header(path, data))
        yield pb.UploadRequest(chunk=data[:100])
        half.set()
        revoked.wait(60)
        yield pb.UploadRequest(chunk=data[100:])

    def revoke() -> None:
        half.wait(60)
        CredentialFile(stack.settings.credentials_file).revoke(credential_id)
        revoked.set()

    threading.Thread(target=revoke, daemon=True).start()
    with stack.channel() as channel, pytest.raises(grpc.RpcError) as err:
        pb_grpc.IngestServiceStub(channel).Upload(
            requests(),
            timeout=90,
            metadata=[("authorization", f"Bearer {token_file.read_text().strip()}")],
        )
    assert (err.value.code(), _reason(err.value)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "REVOKED_CREDENTIAL",
    )
    assert _blob(stack, path) is None
    assert _runs_of_path(stack, path) == []
