"""What a local receiver needs before it starts: its TLS files and the stack's own credential.

The stack's credential may write every collector; ``make demo``, the tests and the
mirror on this machine use it from ``state_dir/local.token`` (mode 0600). Collectors
get their own with ``cloudz-credentials issue``.
"""

from __future__ import annotations

import os

from cloudz.collector_credentials import ALL_COLLECTORS, CredentialFile, Refused
from cloudz.settings import Settings
from cloudz.stack.local_tls import ensure_local_tls

LOCAL_CREDENTIAL_NAME = "local stack"


def ensure_local_credential(settings: Settings) -> str:
    """The stack's token, issued on first use (and again if it was revoked or lost)."""
    creds = CredentialFile(settings.credentials_file)
    token_file = settings.local_token_file
    if token_file.exists():
        token = token_file.read_text().strip()
        try:
            creds.authenticate_token(token)
            return token
        except Refused:
            pass
    _entry, token = creds.issue(LOCAL_CREDENTIAL_NAME, [ALL_COLLECTORS])
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def ensure_receiver_secrets(settings: Settings) -> None:
    if not settings.receiver_plaintext and not settings.receiver_tls_cert:
        ensure_local_tls(settings.tls_dir)
    ensure_local_credential(settings)
