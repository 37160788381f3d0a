"""Bounds on what callers may hold of a replica, so no caller can starve another.

Each replica has a fixed number of threads. Uploads and status calls each get
their own share; the rest of the pool stays free for health checks. Uploads are
bounded per **collector** (the archive path's, known from the first message) and
per **credential** in proportion to the collectors it may write: a collector's
own credential holds ``uploads_per_collector``, an archive server's credential
for 60 collectors up to 60 times that (never more than the replica's share), so
one host may upload for all its collectors at once while no one collector can
hold more than its few slots. A call beyond its share is refused at once with
RESOURCE_EXHAUSTED and a ``RetryInfo`` detail (the CLI waits that long and
tries again, on a new connection) instead of queueing unseen. How long a slot
may be held is bounded by the upload's rate (``IngestService``) and the run's
wait (the client's deadline). docs/security.md gives the numbers.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from cloudz.collector_credentials import ALL_COLLECTORS
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

    def __init__(self, *, uploads: int, uploads_per_collector: int, status_calls: int) -> None:
        self._limits = {"Upload": uploads, "GetStatus": status_calls, "other": OTHER_STREAMS}
        self._per_collector = uploads_per_collector
        self._lock = threading.Lock()
        self._held: collections.Counter[str] = collections.Counter()
        self._by_credential: collections.Counter[str] = collections.Counter()
        self._by_collector: collections.Counter[str] = collections.Counter()

    def credential_share(self, method: str, collectors: int | None) -> int:
        """Calls of ``method`` one credential may hold here; ``collectors``: how many it may
        write (``None``: every collector)."""
        if method != "Upload":
            return min(STATUS_CALLS_PER_CREDENTIAL, self._limits[method])
        if collectors is None:
            return self._limits[method]
        return min(self._limits[method], self._per_collector * max(1, collectors))

    def acquire(self, method: str, credential_id: str, collectors: int | None = 1) -> None:
        """Hold a slot for ``method`` or raise RESOURCE_EXHAUSTED."""
        share = self.credential_share(method, collectors)
        with self._lock:
            if self._held[method] >= self._limits[method]:
                reason = "replica_busy"
                message = f"this replica is serving its limit of {self._limits[method]} calls"
            elif self._by_credential[f"{method}/{credential_id}"] >= share:
                reason = "credential_busy"
                message = (
                    f"credential {credential_id} already has {share} "
                    f"{method} calls in progress on this replica"
                )
            else:
                self._held[method] += 1
                self._by_credential[f"{method}/{credential_id}"] += 1
                return
        self._refuse(method, reason, message)

    @contextlib.contextmanager
    def collector(self, collector: str) -> Iterator[None]:
        """Hold one of ``collector``'s upload slots on this replica, or RESOURCE_EXHAUSTED."""
        with self._lock:
            held = self._by_collector[collector]
            if held < self._per_collector:
                self._by_collector[collector] = held + 1
            else:
                held = -1
        if held < 0:
            self._refuse(
                "Upload",
                "collector_busy",
                f"collector {collector} already has {self._per_collector} uploads in progress "
                "on this replica",
            )
        try:
            yield
        finally:
            with self._lock:
                self._by_collector[collector] -= 1
                if not self._by_collector[collector]:
                    del self._by_collector[collector]

    @staticmethod
    def _refuse(method: str, reason: str, message: str) -> None:
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
                principal = current_principal()
                credential_id = principal.credential_id
                writes = (
                    None if ALL_COLLECTORS in principal.collectors else len(principal.collectors)
                )
                try:
                    self._admission.acquire(method, credential_id, writes)
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
