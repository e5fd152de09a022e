"""The server's refusals as typed exceptions, whichever door they came through.

Each carries the server's message and its machine-readable reason
(`TOKEN_EXPIRED`, `UNKNOWN_ACTION`, ...): over gRPC from the
`google.rpc.ErrorInfo` in the status details, over HTTP from the JSON body
`{"code", "error", "message"}`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import grpc
from google.rpc import error_details_pb2, status_pb2


class MonotremeError(Exception):
    """A call the hub refused or could not answer."""

    status: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(f"{reason}: {message}" if reason else message)
        self.message = message
        self.reason = reason or self.status.name


class InvalidArgument(MonotremeError):
    status, http_status = grpc.StatusCode.INVALID_ARGUMENT, 400


class Unauthenticated(MonotremeError):
    status, http_status = grpc.StatusCode.UNAUTHENTICATED, 401


class PermissionDenied(MonotremeError):
    status, http_status = grpc.StatusCode.PERMISSION_DENIED, 403


class NotFound(MonotremeError):
    status, http_status = grpc.StatusCode.NOT_FOUND, 404


class AlreadyExists(MonotremeError):
    status, http_status = grpc.StatusCode.ALREADY_EXISTS, 409


class FailedPrecondition(MonotremeError):
    status, http_status = grpc.StatusCode.FAILED_PRECONDITION, 412


class ResourceExhausted(MonotremeError):
    status, http_status = grpc.StatusCode.RESOURCE_EXHAUSTED, 429


class Internal(MonotremeError):
    status, http_status = grpc.StatusCode.INTERNAL, 500


class Unavailable(MonotremeError):
    status, http_status = grpc.StatusCode.UNAVAILABLE, 503


class DeadlineExceeded(MonotremeError):
    status, http_status = grpc.StatusCode.DEADLINE_EXCEEDED, 504


class ActionFailed(MonotremeError):
    """The action ran and answered errors (`response.errors`)."""

    status, http_status = grpc.StatusCode.OK, 200

    def __init__(self, action: str, errors: list[str]) -> None:
        super().__init__(f"{action}: {'; '.join(errors)}", "ACTION_FAILED")
        self.errors = errors


_BY_STATUS = {cls.status: cls for cls in MonotremeError.__subclasses__() if cls is not ActionFailed}
_BY_HTTP = {cls.http_status: cls for cls in _BY_STATUS.values()}


def _reason(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return ""


def from_rpc_error(error: grpc.aio.AioRpcError) -> MonotremeError:
    cls = _BY_STATUS.get(error.code(), MonotremeError)
    return cls(error.details() or error.code().name, _reason(error))


def from_http(status: int, body: Any) -> MonotremeError:
    cls = _BY_HTTP.get(status, MonotremeError)
    if isinstance(body, dict) and "message" in body:
        return cls(str(body["message"]), str(body.get("error", "")))
    return cls(str(body) or f"HTTP {status}", "")
