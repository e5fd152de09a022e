"""One table from gRPC status to HTTP status, and one JSON error body:
`{"code": <http status>, "error": "<REASON>", "message": "..."}`."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
from aiohttp import web

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    # Platypush answers 412 before the first user registers (reason REGISTRATION_REQUIRED).
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class GatewayError(Exception):
    """A refused request, whether the core refused it or the gateway did."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    @classmethod
    def from_status(cls, code: grpc.StatusCode, reason: str, message: str) -> GatewayError:
        return cls(HTTP_STATUS.get(code, 500), reason, message)

    def body(self) -> dict[str, Any]:
        return {"code": self.status, "error": self.reason, "message": self.message}

    def response(self) -> web.Response:
        return json_response(self.body(), self.status)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
