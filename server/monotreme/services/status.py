"""A ServiceError as a `google.rpc.Status` and back: its code, message and, as
an `ErrorInfo` detail, its reason. The gRPC door sends it as the
`grpc-status-details-bin` trailer; the gateway's remote invoker reads it, so
a remote caller sees what a local one does."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from monotreme.errors import ServiceError

ERROR_DOMAIN = "monotreme"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def status_details(error: ServiceError) -> bytes:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    status = status_pb2.Status(code=error.code, message=error.message, details=[detail])
    serialized: bytes = status.SerializeToString()
    return serialized


def error_of(code: int, message: str, details: bytes | None) -> ServiceError:
    """The error a status carries; its reason is the code's name when no ErrorInfo says otherwise."""
    reason = code_pb2.Code.Name(code) if code in code_pb2.Code.values() else "UNKNOWN"
    if details:
        for detail in status_pb2.Status.FromString(details).details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                reason = info.reason
    return ServiceError.of(code, message or reason, reason)
