"""Who is calling: the bearer credential of every IngestService call, verified before any work.

A call carries ``authorization: Bearer <credential>``: a ``czk_`` token issued with
``cloudz-credentials``, or (Cloud Run) a Google-signed ID token of a service account.
Either resolves to a ``Principal`` through the same credentials file; the handler
then checks that the principal may write the collector of the path
(PERMISSION_DENIED otherwise). Refusals are counted by reason and logged by
credential id or peer, never with the credential itself.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import google.auth.exceptions
import grpc
import requests
from google.auth import jwt

from cloudz.collector_credentials import CredentialFile, Principal, Refused
from ingest_service import metrics
from ingest_service.errors import RpcError
from ingest_service.interceptors import Behaviour, wrap_behaviour

log = logging.getLogger(__name__)

#: the principal of the call being handled (set by ``AuthInterceptor`` in the handler's thread)
PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "principal", default=None
)
#: where it came from, to check again before a long call commits (a revocation meanwhile)
_CREDENTIALS: contextvars.ContextVar[CredentialFile | None] = contextvars.ContextVar(
    "credentials", default=None
)
#: refusals are logged at most once per reason per interval, with the count in between:
#: an unauthenticated flood must not turn into a flood of log lines
LOG_INTERVAL_SECONDS = 10.0
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
#: how long fetched signing certificates are trusted before they are fetched again
CERTS_TTL_SECONDS = 3600.0


def current_principal() -> Principal:
    principal = PRINCIPAL.get()
    if principal is None:  # pragma: no cover - the interceptor always sets it
        raise RuntimeError("IngestService called without AuthInterceptor")
    return principal


def check_still_valid(method: str) -> None:
    """UNAUTHENTICATED if the call's credential was revoked since the call began."""
    principal, credentials = current_principal(), _CREDENTIALS.get()
    if credentials is None or not credentials.is_revoked(principal.credential_id):
        return
    metrics.REFUSED.labels(method=method, reason="revoked_credential").inc()
    raise RpcError(
        grpc.StatusCode.UNAUTHENTICATED,
        f"credential {principal.credential_id} was revoked during the call; nothing was stored",
        reason="REVOKED_CREDENTIAL",
    )


class _QuietLog:
    """Log a refusal at most once per reason per interval, with how many were not logged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._skipped: collections.Counter[str] = collections.Counter()

    def refused(self, method: str, peer: str, refused: Refused) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(refused.reason, float("-inf")) < LOG_INTERVAL_SECONDS:
                self._skipped[refused.reason] += 1
                return
            self._last[refused.reason] = now
            skipped = self._skipped.pop(refused.reason, 0)
        more = f" (and {skipped} more of this reason since the last line)" if skipped else ""
        log.warning("refused %s from %s: %s%s", method, peer, refused, more)


class IdTokenVerifier:
    """Verifies Google-signed ID tokens against ``certs_url``'s keys, cached for an hour."""

    def __init__(self, audience: str, certs_url: str) -> None:
        self.audience = audience
        self.certs_url = certs_url
        self._lock = threading.Lock()
        self._certs: Mapping[str, str] = {}
        self._fetched = float("-inf")

    def _fetch(self) -> Mapping[str, str]:
        reply = requests.get(self.certs_url, timeout=5)
        reply.raise_for_status()
        certs = reply.json()
        if not isinstance(certs, dict):
            raise ValueError(f"{self.certs_url} did not return a key-id → certificate map")
        return certs

    def _certs_for(self, key_id: str | None) -> Mapping[str, str]:
        with self._lock:
            age = time.monotonic() - self._fetched
            # an unknown key id is a rotation: fetch again, at most once a minute
            rotated = key_id is not None and key_id not in self._certs and age > 60
            if age > CERTS_TTL_SECONDS or rotated:
                self._certs = self._fetch()
                self._fetched = time.monotonic()
            return self._certs

    def email_of(self, token: str) -> str:
        """The verified service-account email of ``token``, or ``Refused``."""
        try:
            header = jwt.decode_header(token)  # type: ignore[no-untyped-call]
            certs = self._certs_for(header.get("kid"))
            claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                token, certs=certs, audience=self.audience, clock_skew_in_seconds=10
            )
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            raise Refused("bad_id_token", f"the ID token does not verify: {exc}") from exc
        except requests.RequestException as exc:
            raise Refused("id_token_keys_unavailable", "ID token keys unreachable") from exc
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise Refused("bad_id_token", "the ID token was not issued by Google")
        email = claims.get("email")
        if not email or claims.get("email_verified") is False:
            raise Refused("bad_id_token", "the ID token names no verified email")
        return str(email)


def _looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and credential.startswith("eyJ")


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """UNAUTHENTICATED for a call to ``service`` without a valid credential."""

    def __init__(
        self, service: str, credentials: CredentialFile, id_tokens: IdTokenVerifier | None
    ) -> None:
        self._prefix = f"/{service}/"
        self._credentials = credentials
        self._id_tokens = id_tokens
        self._log = _QuietLog()

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]]) -> Principal:
        values = [v for k, v in metadata if k == "authorization"]
        if not values:
            raise Refused("missing_credential", "the call carries no credential")
        if len(values) > 1 or not isinstance(values[0], str):
            raise Refused("malformed_credential", "send exactly one authorization header")
        value = values[0]
        scheme, _, credential = value.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Refused("malformed_credential", "authorization must be 'Bearer <credential>'")
        credential = credential.strip()
        if _looks_like_jwt(credential):
            if self._id_tokens is None:
                raise Refused("bad_id_token", "this receiver accepts no ID tokens")
            return self._credentials.principal_of_account(self._id_tokens.email_of(credential))
        return self._credentials.authenticate_token(credential)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        full_method: str = handler_call_details.method
        if handler is None or not full_method.startswith(self._prefix):
            return handler  # health and reflection answer anyone (load balancers probe them)
        method = full_method.rsplit("/", 1)[-1]

        def authenticated(behaviour: Behaviour) -> Behaviour:
            def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    principal = self.authenticate(tuple(context.invocation_metadata()))
                except Refused as refused:
                    metrics.REFUSED.labels(method=method, reason=refused.reason).inc()
                    self._log.refused(method, context.peer(), refused)
                    err = RpcError(
                        grpc.StatusCode.UNAUTHENTICATED,
                        f"{refused}: send 'authorization: Bearer <token>' with a credential "
                        "issued by the archive's operator",
                        reason=refused.reason.upper(),
                    )
                    context.abort_with_status(err.to_status())
                    raise  # unreachable: abort raises
                reset = PRINCIPAL.set(principal)
                reset_credentials = _CREDENTIALS.set(self._credentials)
                try:
                    return behaviour(request, context)
                finally:
                    _CREDENTIALS.reset(reset_credentials)
                    PRINCIPAL.reset(reset)

            return wrapper

        return wrap_behaviour(handler, authenticated)
