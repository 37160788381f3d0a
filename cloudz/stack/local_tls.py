"""A local CA and the receiver's certificate, so the embedded stack speaks TLS like production.

Made once on the first ``cloudz-stack up`` and kept in ``state_dir/tls``; clients
trust it with ``upload-to-cloudz --ca-cert state_dir/tls/ca.pem``. A deployment
brings its own certificate (``CLOUDZ_RECEIVER_TLS_CERT``/``_KEY``) instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: names the receiver is reached by on this machine
LOCAL_NAMES = ("localhost",)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")
CA_DAYS = 3650
CERT_DAYS = 825


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


def make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA key and certificate."""
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: tuple[str, ...],
    addresses: tuple[str, ...],
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A server key and certificate for ``names`` and ``addresses``, signed by the CA."""
    key = _key()
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def ensure_local_tls(tls_dir: Path) -> None:
    """Create ``ca.pem``, ``receiver.pem`` and ``receiver.key`` in ``tls_dir`` unless present."""
    ca_pem, cert_pem, key_pem = (tls_dir / n for n in ("ca.pem", "receiver.pem", "receiver.key"))
    if ca_pem.exists() and cert_pem.exists() and key_pem.exists():
        return
    tls_dir.mkdir(parents=True, exist_ok=True)
    tls_dir.chmod(0o755)
    ca_key, ca_cert = make_ca("cloudz local CA")
    names = (*LOCAL_NAMES, socket.gethostname())
    key, cert = make_server_cert(ca_key, ca_cert, names, LOCAL_ADDRESSES)
    pem = serialization.Encoding.PEM
    _write(
        key_pem,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        0o600,
    )
    _write(cert_pem, cert.public_bytes(pem), 0o644)
    # the CA's key is not kept: nothing else is ever signed with it
    _write(ca_pem, ca_cert.public_bytes(pem), 0o644)
