"""Cross-cutting concerns of the receiver, kept out of the handlers (as grpc's examples do).

``MetricsInterceptor`` counts every call by method and status code and times it,
for unary and client-streaming methods alike; ``auth`` and ``admission`` hold the
interceptors that authenticate calls and bound what one caller may hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

CALLS = Counter(
    "cloudz_grpc_calls", "gRPC calls handled, by method and status code", ["method", "code"]
)
CALL_SECONDS = Histogram(
    "cloudz_grpc_call_seconds",
    "gRPC call duration, by method",
    ["method"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()  # set by abort() / set_code(); None means OK unless it raised
    if code is None:
        return "UNKNOWN" if failed else "OK"
    return str(code.name)


Behaviour = Callable[[Any, grpc.ServicerContext], Any]


def wrap_behaviour(
    handler: grpc.RpcMethodHandler, decorate: Callable[[Behaviour], Behaviour]
) -> grpc.RpcMethodHandler:
    """``handler`` with its unary or client-streaming behaviour decorated.

    Server-streaming methods (health Watch, reflection) pass through undecorated.
    """
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            decorate(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            decorate(handler.stream_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


def wrap_bidi(
    handler: grpc.RpcMethodHandler, decorate: Callable[[Behaviour], Behaviour]
) -> grpc.RpcMethodHandler:
    """``handler`` with its bidirectional-streaming behaviour decorated (reflection)."""
    if handler.stream_stream is None:
        return handler
    return grpc.stream_stream_rpc_method_handler(
        decorate(handler.stream_stream),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class MetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]

        def timed(behaviour: Behaviour) -> Behaviour:
            def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
                started = time.monotonic()
                failed = True
                try:
                    response = behaviour(request, context)
                    failed = False
                    return response
                finally:
                    CALLS.labels(method=method, code=_code_name(context, failed)).inc()
                    CALL_SECONDS.labels(method=method).observe(time.monotonic() - started)

            return wrapper

        return wrap_behaviour(handler, timed)
