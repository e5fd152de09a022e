"""The one table from canonical status (google.rpc.Code, as gRPC uses it) to
HTTP status, and the one JSON error body:
`{"code": <http status>, "error": "<REASON>", "message": "..."}`.

Errors keep their code and reason until here; the Python client pins its own
mapping to this table in the tests."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from google.rpc import code_pb2
from monotreme.errors import ServiceError

log = logging.getLogger(__name__)

HTTP_STATUS = {
    code_pb2.OK: 200,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNAUTHENTICATED: 401,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.ABORTED: 409,
    # Platypush answers 412 before the first user registers (reason REGISTRATION_REQUIRED).
    code_pb2.FAILED_PRECONDITION: 412,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.CANCELLED: 499,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DEADLINE_EXCEEDED: 504,
}


def http_status(code: int) -> int:
    return HTTP_STATUS.get(code, 500)


class GatewayError(Exception):
    """A refused request as HTTP answers it: born at this edge (bad JSON, a
    body too large), or a ServiceError of the core through `of`."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers

    @classmethod
    def of(cls, error: ServiceError) -> GatewayError:
        return cls(http_status(error.code), error.reason, error.message)

    @classmethod
    def method_not_allowed(cls, allowed: Iterable[str], path: str) -> GatewayError:
        """405, with the `Allow` header HTTP requires."""
        methods = sorted(allowed)
        return cls(
            405, "METHOD_NOT_ALLOWED", f"use {' or '.join(methods)} for {path}", {"Allow": ", ".join(methods)}
        )

    @classmethod
    def malformed(cls, error: HttpProcessingError) -> GatewayError:
        """aiohttp's refusal of a malformed request (a bad header, multipart
        body, chunk...), in a line: without the request bytes it quotes."""
        detail = (error.message or "").strip().splitlines()
        return cls(
            error.code or 400,
            "MALFORMED_REQUEST",
            f"malformed request: {detail[0][:200] if detail else error.code}",
        )

    def body(self) -> dict[str, Any]:
        return {"code": self.status, "error": self.reason, "message": self.message}

    def response(self) -> web.Response:
        return json_response(self.body(), self.status, self.headers)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(request: web.Request, error: Exception) -> web.Response:
    """The one JSON error body for what serving `request` raised; never a
    traceback for the client (a bug is logged whole and answered 500)."""
    if isinstance(error, GatewayError):
        return error.response()
    if isinstance(error, ServiceError):
        return GatewayError.of(error).response()
    if isinstance(error, web.HTTPMethodNotAllowed):
        return GatewayError.method_not_allowed(error.allowed_methods, request.path).response()
    if isinstance(error, web.HTTPNotFound):
        return GatewayError(404, "NOT_FOUND", f"no route for {request.path}").response()
    if isinstance(error, web.HTTPException):
        return GatewayError(
            error.status, error.reason.upper().replace(" ", "_"), error.text or error.reason
        ).response()
    if isinstance(error, HttpProcessingError):  # e.g. a malformed multipart body, read by a handler
        return GatewayError.malformed(error).response()
    log.exception("internal error on %s %s", request.method, request.path, exc_info=error)
    return GatewayError(500, "INTERNAL", "internal error").response()
