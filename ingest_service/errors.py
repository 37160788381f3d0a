"""gRPC errors with rich details (``google.rpc.Status``), as grpc's error examples send them.

A handler raises ``RpcError``; the servicer turns it into ``context.abort_with_status``
so clients get a status code, a message a human can act on, and machine-readable
details (``BadRequest`` field violations, ``ErrorInfo`` reason + metadata, ``RetryInfo``
when trying again later will help).
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "ingest.cloudz"


class RpcError(Exception):
    """An error to send to the client as a gRPC status with details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str,
        metadata: dict[str, str] | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}
        self.field = field

    def to_status(self) -> grpc.Status:
        details = []
        info = any_pb2.Any()
        info.Pack(
            error_details_pb2.ErrorInfo(
                reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
            )
        )
        details.append(info)
        if self.field is not None:
            bad = any_pb2.Any()
            bad.Pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=self.field, description=self.message
                        )
                    ]
                )
            )
            details.append(bad)
        if self.retry_after is not None:
            retry = any_pb2.Any()
            retry.Pack(
                error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(
                        seconds=int(self.retry_after),
                        nanos=int((self.retry_after % 1) * 1e9),
                    )
                )
            )
            details.append(retry)
        code_value = self.code.value[0]
        assert code_value != code_pb2.OK
        return rpc_status.to_status(
            status_pb2.Status(code=code_value, message=self.message, details=details)
        )


def invalid_argument(message: str, *, field: str, reason: str) -> RpcError:
    return RpcError(grpc.StatusCode.INVALID_ARGUMENT, message, reason=reason, field=field)
