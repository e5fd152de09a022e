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


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure answers the one JSON error body; never a traceback."""
    try:
        return await handler(request)
    except GatewayError as e:
        return e.response()
    except ServiceError as e:
        return GatewayError.of(e).response()
    except web.HTTPMethodNotAllowed as e:
        return GatewayError.method_not_allowed(e.allowed_methods, request.path).response()
    except web.HTTPNotFound:
        return GatewayError(404, "NOT_FOUND", f"no route for {request.path}").response()
    except web.HTTPException as e:
        return GatewayError(e.status, e.reason.upper().replace(" ", "_"), e.text or e.reason).response()
    except HttpProcessingError as e:  # e.g. a malformed multipart body, read by a handler
        return GatewayError.malformed(e).response()
    except Exception as e:
        log.exception("internal error on %s %s", request.method, request.path, exc_info=e)
        return GatewayError(500, "INTERNAL", "internal error").response()
