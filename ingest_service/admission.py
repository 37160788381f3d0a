"""Bounds on what callers may hold of a replica, so no caller can starve another.

Each replica has a fixed number of threads. Uploads and status calls each get
their own share, and one credential (one collector) may hold only a few uploads
at once; the rest of the pool stays free for health checks. A call beyond its
share is refused at once with RESOURCE_EXHAUSTED and a ``RetryInfo`` detail
(the CLI waits that long and tries again) instead of queueing unseen.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from ingest_service import metrics
from ingest_service.auth import current_principal
from ingest_service.errors import RpcError
from ingest_service.idle_stream import idle_limited
from ingest_service.interceptors import Behaviour, wrap_behaviour, wrap_bidi

#: what a refused caller is told to wait before trying again
RETRY_AFTER_SECONDS = 5.0
#: status calls one credential may hold on a replica (a collector asks about its own files)
STATUS_CALLS_PER_CREDENTIAL = 4
#: bidirectional streams (reflection) anyone may hold on a replica, and their idle limit:
#: reflection answers without a credential, so it must not be able to hold the threads
OTHER_STREAMS = 4
OTHER_STREAM_IDLE_SECONDS = 10.0


class Admission:
    """Counts of calls held, by kind and by credential."""

    def __init__(self, *, uploads: int, uploads_per_credential: int, status_calls: int) -> None:
        self._limits = {"Upload": uploads, "GetStatus": status_calls, "other": OTHER_STREAMS}
        self._per_credential = {
            "Upload": uploads_per_credential,
            "GetStatus": STATUS_CALLS_PER_CREDENTIAL,
        }
        self._lock = threading.Lock()
        self._held: collections.Counter[str] = collections.Counter()
        self._by_credential: collections.Counter[str] = collections.Counter()

    def acquire(self, method: str, credential_id: str) -> None:
        """Hold a slot for ``method`` or raise RESOURCE_EXHAUSTED."""
        with self._lock:
            if self._held[method] >= self._limits[method]:
                reason = "replica_busy"
                message = f"this replica is serving its limit of {self._limits[method]} calls"
            elif self._by_credential[f"{method}/{credential_id}"] >= self._per_credential.get(
                method, self._limits[method]
            ):
                reason = "collector_busy"
                message = (
                    f"credential {credential_id} already has {self._per_credential[method]} "
                    f"{method} calls in progress on this replica"
                )
            else:
                self._held[method] += 1
                self._by_credential[f"{method}/{credential_id}"] += 1
                return
        metrics.REFUSED.labels(method=method, reason=reason).inc()
        raise RpcError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{message}; nothing was received, try again in {RETRY_AFTER_SECONDS:g} s",
            reason=reason.upper(),
            retry_after=RETRY_AFTER_SECONDS,
        )

    def release(self, method: str, credential_id: str) -> None:
        key = f"{method}/{credential_id}"
        with self._lock:
            self._held[method] -= 1
            self._by_credential[key] -= 1
            if not self._by_credential[key]:
                del self._by_credential[key]

    def held(self, method: str) -> int:
        with self._lock:
            return self._held[method]


class AdmissionInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Applies ``Admission`` to the methods it limits (after ``AuthInterceptor``)."""

    def __init__(self, service: str, admission: Admission) -> None:
        self._prefix = f"/{service}/"
        self._admission = admission

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        full_method: str = handler_call_details.method
        if handler is None:
            return None
        if not full_method.startswith(self._prefix):
            return wrap_bidi(handler, self._bounded_stream)
        method = full_method.rsplit("/", 1)[-1]

        def admitted(behaviour: Behaviour) -> Behaviour:
            def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
                credential_id = current_principal().credential_id
                try:
                    self._admission.acquire(method, credential_id)
                except RpcError as err:
                    context.abort_with_status(err.to_status())
                    raise  # unreachable: abort raises
                try:
                    return behaviour(request, context)
                finally:
                    self._admission.release(method, credential_id)

            return wrapper

        return wrap_behaviour(handler, admitted)

    def _bounded_stream(self, behaviour: Behaviour) -> Behaviour:
        """At most ``OTHER_STREAMS`` open, each cut after ``OTHER_STREAM_IDLE_SECONDS`` silent."""

        def wrapper(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                self._admission.acquire("other", "anyone")
            except RpcError as err:
                context.abort_with_status(err.to_status())
                raise  # unreachable: abort raises
            try:
                yield from behaviour(
                    idle_limited(requests, OTHER_STREAM_IDLE_SECONDS, "other"), context
                )
            except RpcError as err:
                context.abort_with_status(err.to_status())
            finally:
                self._admission.release("other", "anyone")

        return wrapper
