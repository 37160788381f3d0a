"""Per-collector credentials: which caller may write which collectors' archive paths.

One JSON file holds two kinds of entries, each mapped to the collectors it may write
(``"*"``: every collector, for the project's own mirror):

- **tokens** the operator issues (``cloudz-credentials issue``): ``czk_<id>_<secret>``.
  Only the sha256 of the secret is stored; a 256-bit random secret needs no slow hash.
- **service accounts** (Cloud Run): a Google-signed ID token whose verified ``email``
  claim is the account.

The receiver re-reads the file when it changes (every editor replaces it by an atomic
rename, so a changed inode is a new version), so issuing or revoking takes effect on the
next call, without a restart. Writes go through a lock and an atomic rename.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TOKEN_PREFIX = "czk"
ALL_COLLECTORS = "*"
_TOKEN = re.compile(r"czk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})", re.ASCII)
_COLLECTOR = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)


class CredentialError(ValueError):
    """A request to the store that cannot be done (unknown id, bad collector name)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_collectors(collectors: list[str]) -> list[str]:
    if not collectors:
        raise CredentialError("name at least one collector (or '*' for all)")
    for c in collectors:
        if not _COLLECTOR.fullmatch(c):
            raise CredentialError(f"not a collector name: {c!r}")
    return sorted(set(collectors))


@dataclass
class Entry:
    """One credential: a token (``kind="token"``) or a service account."""

    id: str
    kind: str
    name: str
    collectors: list[str]
    created: str
    revoked: str | None = None
    secret_sha256: str = ""
    email: str = ""

    def may_write(self, collector: str) -> bool:
        return ALL_COLLECTORS in self.collectors or collector in self.collectors


@dataclass
class Credentials:
    """The whole file."""

    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Credentials:
        return cls([Entry(**e) for e in data.get("credentials", [])])

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "credentials": [asdict(e) for e in self.entries]}

    def find(self, credential_id: str) -> Entry:
        for e in self.entries:
            if e.id == credential_id:
                return e
        raise CredentialError(f"no credential {credential_id!r}")


@dataclass(frozen=True)
class Principal:
    """Who a call comes from, once its credential is verified."""

    credential_id: str
    name: str
    collectors: frozenset[str]

    def may_write(self, collector: str) -> bool:
        return ALL_COLLECTORS in self.collectors or collector in self.collectors


class Refused(Exception):
    """A credential that does not authenticate; ``reason`` is a metrics label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CredentialFile:
    """The credentials file: the operator's CLI edits it, the receiver reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._current = Credentials()

    # --- the receiver's side -----------------------------------------------
    def current(self) -> Credentials:
        """The file's entries, re-read when it changed: a ``stat`` per call, microseconds."""
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._seen, self._current = (0, 0, 0), Credentials()
                return self._current
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
            if seen != self._seen:
                self._current = self.read()
                self._seen = seen
            return self._current

    def authenticate_token(self, token: str) -> Principal:
        """The principal of a ``czk_`` token, or ``Refused``."""
        m = _TOKEN.fullmatch(token)
        if m is None:
            raise Refused("malformed_credential", "the credential is not a cloudz token")
        credential_id, secret = m.groups()
        try:
            entry = self.current().find(credential_id)
        except CredentialError:
            raise Refused("unknown_credential", "unknown credential") from None
        if entry.kind != "token" or not hmac.compare_digest(
            entry.secret_sha256, _secret_hash(secret)
        ):
            raise Refused("unknown_credential", "unknown credential")
        if entry.revoked:
            raise Refused("revoked_credential", f"credential {entry.id} was revoked")
        return Principal(entry.id, entry.name, frozenset(entry.collectors))

    def is_revoked(self, credential_id: str) -> bool:
        """Revoked (or removed) since a call authenticated with it."""
        try:
            return self.current().find(credential_id).revoked is not None
        except CredentialError:
            return True

    def principal_of_account(self, email: str) -> Principal:
        """The principal of a verified service-account email, or ``Refused``."""
        for entry in self.current().entries:
            if entry.kind == "service_account" and entry.email == email:
                if entry.revoked:
                    raise Refused("revoked_credential", f"credential {entry.id} was revoked")
                return Principal(entry.id, entry.name, frozenset(entry.collectors))
        raise Refused("unknown_credential", f"service account {email} is not a collector")

    # --- the operator's side -----------------------------------------------
    def read(self) -> Credentials:
        try:
            return Credentials.from_json(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return Credentials()

    @contextlib.contextmanager
    def editing(self) -> Iterator[Credentials]:
        """Read, let the caller change, write back atomically; one editor at a time."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            creds = self.read()
            yield creds
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(creds.to_json(), out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(self.path)

    def issue(self, name: str, collectors: list[str]) -> tuple[Entry, str]:
        """A new token for ``collectors``; the token itself is returned once, never stored."""
        collectors = check_collectors(collectors)
        credential_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        entry = Entry(
            id=credential_id,
            kind="token",
            name=name,
            collectors=collectors,
            created=_now(),
            secret_sha256=_secret_hash(secret),
        )
        with self.editing() as creds:
            creds.entries.append(entry)
        return entry, f"{TOKEN_PREFIX}_{credential_id}_{secret}"

    def add_service_account(self, email: str, collectors: list[str]) -> Entry:
        collectors = check_collectors(collectors)
        if "@" not in email:
            raise CredentialError(f"not a service account email: {email!r}")
        entry = Entry(
            id=f"sa-{secrets.token_hex(6)}",
            kind="service_account",
            name=email,
            collectors=collectors,
            created=_now(),
            email=email,
        )
        with self.editing() as creds:
            if any(e.email == email and not e.revoked for e in creds.entries if e.kind != "token"):
                raise CredentialError(f"{email} is mapped already; revoke it first")
            creds.entries.append(entry)
        return entry

    def revoke(self, credential_id: str) -> Entry:
        with self.editing() as creds:
            entry = creds.find(credential_id)
            if entry.revoked is None:
                entry.revoked = _now()
        return entry
