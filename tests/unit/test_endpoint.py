"""Endpoint strings: which are plaintext, which are TLS, which are refused."""

from __future__ import annotations

import pytest

from cloudz.ingest.endpoint import Endpoint, EndpointError, parse_endpoint


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:50051", Endpoint("127.0.0.1:50051", tls=False)),
        ("http://localhost", Endpoint("localhost:50051", tls=False)),
        ("https://ingest.example.org", Endpoint("ingest.example.org:443", tls=True)),
        ("https://ingest.example.org:8443", Endpoint("ingest.example.org:8443", tls=True)),
        ("ingest.example.org:50051", Endpoint("ingest.example.org:50051", tls=True)),
        # a bare host:port is TLS, on loopback too: plaintext only when asked for
        ("127.0.0.1:50051", Endpoint("127.0.0.1:50051", tls=True)),
        ("localhost:50051", Endpoint("localhost:50051", tls=True)),
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
        # plaintext off loopback: the token would cross the network in clear
        "http://ingest.example.org:50051",
        "http://10.0.0.1:50051",
        "127.0.0.1:\uff15\uff10",
    ],
)
def test_parse_endpoint_refuses(raw: str) -> None:
    with pytest.raises(EndpointError):
        parse_endpoint(raw)
