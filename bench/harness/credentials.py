"""Collector credentials for a bench's uploads, issued in a local stack's credentials file.

As ``cloudz-credentials issue`` does (the receivers reread the file within a second): one per
collector as in production (the receiver limits uploads per credential), or one for many, as an
archive server uploading for all its collectors holds. Revoked when the bench is done.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from cloudz.archive import paths
from cloudz.collector_credentials import CredentialFile
from cloudz.settings import Settings
from harness.receiver import Upload


def local_token(settings: Settings) -> str | None:
    """``CLOUDZ_TOKEN``, else the local stack's own token (its file), else None."""
    token = os.environ.get("CLOUDZ_TOKEN")
    if token:
        return token
    if settings.local_token_file.exists():
        return settings.local_token_file.read_text().strip()
    return None


def issue(settings: Settings, name: str, collectors: Sequence[str]) -> tuple[str, str]:
    """A new credential for ``collectors``: its id and its token (shown once)."""
    entry, token = CredentialFile(settings.credentials_file).issue(name, list(collectors))
    return entry.id, token


def write_token_file(path: Path, token: str) -> Path:
    """The token in a file of mode 0600, as ``upload-to-cloudz --token-file`` reads it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return path


def revoke(settings: Settings, credential_ids: Sequence[str]) -> None:
    creds = CredentialFile(settings.credentials_file)
    for credential_id in credential_ids:
        creds.revoke(credential_id)


def issue_for_uploads(
    uploads: Sequence[Upload], settings: Settings, shared: bool = False
) -> tuple[list[Upload], list[str]]:
    """One credential per collector of ``uploads``, or with ``shared`` one for all of them; only
    for a local stack, whose credentials file is here. The uploads with their tokens, and the
    credentials' ids."""
    if not settings.credentials_file.exists():
        return list(uploads), []
    if shared:
        collectors = sorted({paths.parse(up.archive_path).collector for up in uploads})
        credential_id, token = issue(settings, "bench archive server", collectors)
        return [dataclasses.replace(up, token=token) for up in uploads], [credential_id]
    with_tokens, issued = [], []
    for up in uploads:
        collector = paths.parse(up.archive_path).collector
        credential_id, token = issue(settings, f"bench {collector}", [collector])
        with_tokens.append(dataclasses.replace(up, token=token))
        issued.append(credential_id)
    return with_tokens, issued
