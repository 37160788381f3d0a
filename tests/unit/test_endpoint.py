"""Endpoint strings: which are plaintext, which are TLS, which are refused."""

from __future__ import annotations

import pytest

from cloudz.cli.endpoint import Endpoint, EndpointError, parse_endpoint


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:50051", Endpoint("127.0.0.1:50051", tls=False)),
        ("http://localhost", Endpoint("localhost:50051", tls=False)),
        ("https://ingest.example.org", Endpoint("ingest.example.org:443", tls=True)),
        ("https://ingest.example.org:8443", Endpoint("ingest.example.org:8443", tls=True)),
        ("ingest.example.org:50051", Endpoint("ingest.example.org:50051", tls=True)),
        ("127.0.0.1:50051", Endpoint("127.0.0.1:50051", tls=False)),
        ("localhost:50051", Endpoint("localhost:50051", tls=False)),
        ("http://[::1]:50051", Endpoint("[::1]:50051", tls=False)),
    ],
)
def test_parse_endpoint(raw: str, expected: Endpoint) -> None:
    assert parse_endpoint(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://x:1",
        "http://x:1/path",
        "justahost",
        "host:port",
        ":50051",
        "https://",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:abc",
        "127.0.0.1:0",
        "http://user:secret@host:1",
    ],
)
def test_parse_endpoint_refuses(raw: str) -> None:
    with pytest.raises(EndpointError):
        parse_endpoint(raw)
