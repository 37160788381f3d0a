"""Turn ``-d`` into a gRPC channel: ``https://`` or a bare ``host:port`` is TLS.

``http://`` (plaintext) is accepted only for a loopback host: a credential sent
in clear across a network is a credential given away. Tokens ride as call metadata.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc

DEFAULT_PORT = 50051


class EndpointError(ValueError):
    """The endpoint string cannot be used."""


@dataclass(frozen=True)
class Endpoint:
    target: str  # host:port, as gRPC wants it
    tls: bool

    def channel(
        self, *, ca_cert: bytes | None = None, options: list[tuple[str, int]] | None = None
    ) -> grpc.Channel:
        if self.tls:
            creds = grpc.ssl_channel_credentials(root_certificates=ca_cert)
            return grpc.secure_channel(self.target, creds, options=options)
        return grpc.insecure_channel(self.target, options=options)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (IPv4 or IPv6, bracketed or not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_endpoint(raw: str) -> Endpoint:
    try:
        return _parse(raw)
    except ValueError as exc:  # e.g. urlsplit's "Port out of range"
        if isinstance(exc, EndpointError):
            raise
        raise EndpointError(f"endpoint {raw!r}: {exc}") from exc


def _parse(raw: str) -> Endpoint:
    text = raw.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https"):
            raise EndpointError(f"unknown scheme {parts.scheme!r} in {raw!r}: use http or https")
        if parts.path not in ("", "/") or parts.query or parts.username or not parts.hostname:
            raise EndpointError(f"endpoint {raw!r} must be scheme://host[:port]")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else DEFAULT_PORT)
        host = parts.hostname
        if not tls and not is_loopback(host):
            raise EndpointError(
                f"endpoint {raw!r}: plaintext is refused off loopback (the credential would "
                "cross the network in clear); use https://"
            )
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or not port_text.isascii() or not port_text.isdigit():
            raise EndpointError(f"endpoint {raw!r} must be host:port, http://… or https://…")
        port = int(port_text)
        tls = True
    if not 0 < port < 65536:
        raise EndpointError(f"endpoint {raw!r}: port {port} is out of range")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return Endpoint(target=f"{host}:{port}", tls=tls)
