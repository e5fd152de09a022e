"""Errors the core raises for a caller's mistake or a refused call.

Each carries a canonical status code (`google.rpc.Code`, the codes gRPC
uses) and a machine-readable reason, unchanged until a door's edge: the
gRPC door sends the code with the reason as a `google.rpc.ErrorInfo`; the
HTTP door maps the code to a status with its one table
(`monotreme_gateway.transcoder.errors.http_status`). The core imports no
transport to say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from google.rpc import code_pb2


class ConfigError(Exception):
    """A mistake in the owner's configuration: names the file, the key and the reason."""

    def __init__(self, source: Path | None, key: str, reason: str) -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {reason}")


class ServiceError(Exception):
    """A call the service refuses; never a bug in the service."""

    code: ClassVar[int] = code_pb2.INTERNAL
    default_reason: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason

    @staticmethod
    def of(code: int, message: str, reason: str) -> ServiceError:
        """The error of class for `code`, e.g. one that came back over gRPC."""
        cls = _BY_CODE.get(code, ServiceError)
        error = cls(message, reason=reason)
        if cls is ServiceError:
            error.code = code  # type: ignore[misc]  # a code no class names
        return error


class InvalidArgument(ServiceError):
    code = code_pb2.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class Unauthenticated(ServiceError):
    code = code_pb2.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    code = code_pb2.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class NotFound(ServiceError):
    code = code_pb2.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(ServiceError):
    code = code_pb2.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(ServiceError):
    code = code_pb2.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class ResourceExhausted(ServiceError):
    code = code_pb2.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class DeadlineExceeded(ServiceError):
    code = code_pb2.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"
    # One message whichever side notices first: over gRPC the client's own
    # deadline and the server's fire together.
    MESSAGE = "the caller's deadline passed"


class Unavailable(ServiceError):
    code = code_pb2.UNAVAILABLE
    default_reason = "UNAVAILABLE"


_BY_CODE: dict[int, type[ServiceError]] = {cls.code: cls for cls in ServiceError.__subclasses__()}
