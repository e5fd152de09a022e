"""An HTTP request's credentials into the core's call metadata, as grpc-gateway
turns headers into gRPC metadata."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from monotreme.call import Call

from monotreme_gateway.transcoder.errors import GatewayError

SESSION_COOKIE = "session_token"
# Query parameters that carry credentials (`?token=`), never request fields.
CREDENTIAL_PARAMS = frozenset({"token"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def call_of(request: web.Request) -> Call:
    """The core's view of an HTTP caller. Platypush clients send a token as
    `Authorization`, `X-Token` or `?token=`; browser pages a session cookie,
    which the core reads as `authorization: Session ...`.

    A cookie comes with every request the browser makes, whoever's page asks:
    so with a cookie alone, state-changing requests must carry the session's
    CSRF token, and requests from another origin are refused."""
    metadata = {}
    if authorization := request.headers.get("Authorization"):
        metadata["authorization"] = authorization
    elif token := request.headers.get("X-Token") or request.query.get("token"):
        metadata["authorization"] = f"Bearer {token}"
    elif session := request.cookies.get(SESSION_COOKIE):
        metadata["authorization"] = f"Session {session}"
        same_origin(request)
        if csrf := request.headers.get("X-CSRF-Token"):
            metadata["x-csrf-token"] = csrf
        elif request.method not in _SAFE_METHODS:
            raise GatewayError(403, "INVALID_CSRF", "Invalid CSRF token")  # Platypush's words
    if not all(value.isascii() for value in metadata.values()):
        # As every token and session id is; and gRPC metadata must be (for a remote hub).
        raise GatewayError(400, "INVALID_ARGUMENT", "credentials must be ASCII")
    return Call(metadata=metadata, peer=request.remote or "")


def same_origin(request: web.Request) -> None:
    """Refuses a browser request that another site's page made: with a session
    cookie, and for the log-in forms that set one (else a foreign page could
    log the browser into an account of its choosing)."""
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise GatewayError(403, "CROSS_ORIGIN", f"a session is not accepted from {origin}")


def anonymous(request: web.Request) -> Call:
    """A call that carries no credentials, only where it came from."""
    return Call(peer=request.remote or "")
