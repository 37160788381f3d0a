"""The receiver's admission and authentication rules, without a network (the e2e tests
in tests/e2e/test_security.py drive the same code through real gRPC calls)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import grpc
import pytest

from cloudz.archive import paths
from cloudz.collector_credentials import CredentialFile, Refused
from ingest_service.admission import STATUS_CALLS_PER_CREDENTIAL, Admission
from ingest_service.auth import AuthInterceptor
from ingest_service.errors import RpcError


def test_each_credential_has_its_share_and_the_replica_a_ceiling() -> None:
    admission = Admission(uploads=10, uploads_per_collector=3, status_calls=16)
    for _ in range(3):
        admission.acquire("Upload", "a")
    with pytest.raises(RpcError) as err:
        admission.acquire("Upload", "a")
    assert (err.value.code, err.value.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "CREDENTIAL_BUSY",
    )
    assert err.value.retry_after
    for i in range(7):
        admission.acquire("Upload", f"other-{i}")
    with pytest.raises(RpcError, match="limit of 10") as err:
        admission.acquire("Upload", "b")
    assert err.value.reason == "REPLICA_BUSY"
    admission.release("Upload", "a")
    admission.acquire("Upload", "b")
    # status calls are a credential's own share too, apart from uploads
    for _ in range(STATUS_CALLS_PER_CREDENTIAL):
        admission.acquire("GetStatus", "a")
    with pytest.raises(RpcError):
        admission.acquire("GetStatus", "a")
    admission.acquire("GetStatus", "b")
    assert admission.held("GetStatus") == STATUS_CALLS_PER_CREDENTIAL + 1


def test_an_archive_server_credential_holds_a_share_per_collector() -> None:
    """One host uploading for 60 collectors: its credential may hold 60 collectors' shares
    (up to the replica's ceiling), and each collector still only its own few."""
    admission = Admission(uploads=64, uploads_per_collector=4, status_calls=16)
    assert admission.credential_share("Upload", 1) == 4
    assert admission.credential_share("Upload", 10) == 40
    assert admission.credential_share("Upload", 60) == 64
    assert admission.credential_share("Upload", None) == 64  # '*': every collector
    for _ in range(60):
        admission.acquire("Upload", "archive-server", 60)
    assert admission.held("Upload") == 60
    with contextlib.ExitStack() as held:
        for i in range(60):
            held.enter_context(admission.collector(f"route-views{i}"))
        for _ in range(3):
            held.enter_context(admission.collector("route-views0"))
        with pytest.raises(RpcError) as err, admission.collector("route-views0"):
            pass
        assert (err.value.code, err.value.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "COLLECTOR_BUSY",
        )
        assert "route-views0" in err.value.message
    # every collector slot was given back
    with contextlib.ExitStack() as held:
        for _ in range(4):
            held.enter_context(admission.collector("route-views0"))


def test_a_credential_is_one_bearer_header(tmp_path: Path) -> None:
    creds = CredentialFile(tmp_path / "credentials.json")
    entry, token = creds.issue("rv2", ["route-views2"])
    auth = AuthInterceptor("cloudz.ingest.v1.IngestService", creds, None)
    principal = auth.authenticate((("authorization", f"Bearer {token}"),))
    assert principal.credential_id == entry.id
    assert principal.may_write("route-views2") and not principal.may_write("route-views3")
    # another secret: its last character changed (a 32-byte secret ends in one of 16
    # characters, "A" among them: appending "A" kept it unchanged one run in 16)
    other = token[:-1] + ("B" if token.endswith("A") else "A")
    for metadata, reason in [
        ((), "missing_credential"),
        ((("authorization", f"Basic {token}"),), "malformed_credential"),
        ((("authorization", token),), "malformed_credential"),
        ((("authorization", f"Bearer {token}"),) * 2, "malformed_credential"),
        ((("authorization", f"Bearer {other}"),), "unknown_credential"),
        ((("authorization", "Bearer eyJhbGciOiJub25lIn0.e30."),), "bad_id_token"),
    ]:
        with pytest.raises(Refused) as err:
            auth.authenticate(metadata)
        assert err.value.reason == reason, metadata
    creds.revoke(entry.id)
    assert creds.is_revoked(entry.id)
    with pytest.raises(Refused, match="revoked"):
        auth.authenticate((("authorization", f"Bearer {token}"),))


def test_the_file_holds_no_secret(tmp_path: Path) -> None:
    creds = CredentialFile(tmp_path / "credentials.json")
    _entry, token = creds.issue("rv2", ["route-views2"])
    secret = token.split("_", 2)[2]  # czk_<id>_<secret>, "_" among the secret's characters
    assert len(secret) == 43, token
    assert secret not in creds.path.read_text()
    assert (creds.path.stat().st_mode & 0o777) == 0o600


def test_derived_names_are_refused_in_any_case() -> None:
    with pytest.raises(paths.ArchivePathError):
        paths.parse("route-views2/bgpdata/2024.01/RIBS/rib.bz2.AVRO")
