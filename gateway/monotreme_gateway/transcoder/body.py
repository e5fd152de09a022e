"""Request bodies: read within the size limit, and JSON (grpc-gateway's marshalers, for one content type)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from monotreme_gateway.transcoder.errors import GatewayError


async def read_body(request: web.Request) -> bytes:
    """The request's body; 413 over the size limit."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        raise GatewayError(413, "PAYLOAD_TOO_LARGE", f"the body is over the limit of {limit} bytes") from None


async def json_body(request: web.Request, *, any_type: bool = False) -> Any:
    """The request's JSON body ({} when empty); 413, 415 or 400 otherwise.
    `any_type` reads JSON whatever the Content-Type says, as Platypush's
    `/execute` does (`curl -d '{...}'` sends it as a form)."""
    if (
        not any_type
        and request.content_type not in ("application/json", "application/octet-stream", "")
        and not request.content_type.endswith("+json")
    ):
        raise GatewayError(415, "UNSUPPORTED_MEDIA_TYPE", f"send JSON, not {request.content_type}")
    raw = await read_body(request)
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise GatewayError(400, "MALFORMED_JSON", f"the body is not valid JSON: {e}") from None
