"""`/auth`: Platypush's auth endpoint, as adapters over the AuthService RPCs.

* `POST /auth?type=token` (the default): a named API token, for JSON
  credentials or for the caller's session (cookie + `X-CSRF-Token`) or token,
  with the `scopes` the body lists (see monotreme.scopes);
* `?type=jwt`: a JWT for JSON credentials;
* `?type=register` (while no user exists) and `?type=login`: a browser
  session, from a form or JSON, set as the `session_token` cookie;
* `GET /auth`: who is authenticated; `DELETE /auth`: revokes the token in
  the JSON body, else ends the cookie's session.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from aiohttp import web
from google.protobuf.message import Message
from monotreme.call import Call
from monotreme.errors import ServiceError
from monotreme.v1 import auth_pb2

from monotreme_gateway.invoker import Invoker
from monotreme_gateway.transcoder.body import json_body
from monotreme_gateway.transcoder.codec import to_json
from monotreme_gateway.transcoder.errors import GatewayError, json_response
from monotreme_gateway.transcoder.metadata import SESSION_COOKIE, anonymous, call_of, same_origin

_SERVICE = "/monotreme.v1.AuthService/"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _payload(request: web.Request) -> dict[str, Any]:
    """The body's fields, from a form or JSON."""
    data = dict(await request.post()) if request.content_type in _FORMS else await json_body(request)
    if not isinstance(data, dict):
        raise GatewayError(400, "INVALID_ARGUMENT", 'send {"username": ..., "password": ...}')
    return data


def _expiry_days(data: dict[str, Any]) -> float:
    """The body's `expiry_days` as a number (a form sends text); the core decides which are valid."""
    value = data.get("expiry_days") or 0
    if isinstance(value, bool):  # JSON's true is no number of days
        raise GatewayError(400, "INVALID_ARGUMENT", f"expiry_days: a number of days, not {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GatewayError(400, "INVALID_ARGUMENT", f"expiry_days: a number of days, not {value!r}") from None


def _scopes(data: dict[str, Any]) -> list[str]:
    """The body's `scopes`: a JSON list of strings, or a form's space-separated text."""
    value = data.get("scopes") or []
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        raise GatewayError(
            400, "INVALID_SCOPE", "scopes: a list of strings such as execute:procedure.at_home"
        )
    return value


def _session_json(session: auth_pb2.Session, request: web.Request) -> dict[str, Any]:
    return {"status": "ok", **to_json(session), "redirect": request.query.get("redirect") or "/"}


class AuthEndpoint:
    def __init__(self, invoker: Invoker) -> None:
        self._invoker = invoker

    async def _call(self, method: str, request: Message, call: Call) -> Any:
        return await self._invoker.unary(self._invoker.methods[_SERVICE + method], request, call)

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return await self._who(request)
        if request.method == "DELETE":
            return await self._end(request)
        if request.method != "POST":
            raise GatewayError(405, "METHOD_NOT_ALLOWED", "use GET, POST or DELETE for /auth")
        kind = request.query.get("type") or "token"
        handlers = {"token": self._token, "jwt": self._jwt, "register": self._register, "login": self._login}
        if kind not in handlers:
            raise GatewayError(400, "INVALID_AUTH_TYPE", "Invalid authentication type")
        return await handlers[kind](request, await _payload(request))

    async def _token(self, request: web.Request, data: dict[str, Any]) -> web.Response:
        username, password = str(data.get("username") or ""), str(data.get("password") or "")
        if username and password:
            basic = base64.b64encode(f"{username}:{password}".encode()).decode()
            call = Call(metadata={"authorization": f"Basic {basic}"}, peer=request.remote or "")
        else:
            call = call_of(request)  # a session (with its CSRF token) or a token
        name = str(data.get("name") or f"token-{uuid.uuid4().hex[:8]}")
        message = auth_pb2.CreateTokenRequest(name=name, expiry_days=_expiry_days(data), scopes=_scopes(data))
        try:
            answer = await self._call("CreateToken", message, call)
        except ServiceError as e:
            if e.reason == "TOKEN_NAME_EXISTS":  # Platypush's answer, not 409 with the name
                raise GatewayError(400, e.reason, "A token with this name already exists") from None
            raise
        return json_response({"token": answer.token})

    async def _jwt(self, request: web.Request, data: dict[str, Any]) -> web.Response:
        message = auth_pb2.LoginRequest(
            username=str(data.get("username") or ""),
            password=str(data.get("password") or ""),
            expiry_days=_expiry_days(data),
        )
        return json_response(to_json(await self._call("Login", message, call_of(request))))

    async def _register(self, request: web.Request, data: dict[str, Any]) -> web.Response:
        same_origin(request)
        username, password = str(data.get("username") or ""), str(data.get("password") or "")
        if not username:
            raise GatewayError(400, "MISSING_USERNAME", "Missing username")
        if not password:
            raise GatewayError(400, "MISSING_PASSWORD", "Missing password")
        if "confirm_password" in data and data["confirm_password"] != password:
            raise GatewayError(400, "PASSWORD_MISMATCH", "Password mismatch")
        register = auth_pb2.RegisterRequest(username=username, password=password)
        await self._call("Register", register, anonymous(request))
        return await self._login(request, data)

    async def _login(self, request: web.Request, data: dict[str, Any]) -> web.Response:
        same_origin(request)
        message = auth_pb2.CreateSessionRequest(
            username=str(data.get("username") or ""),
            password=str(data.get("password") or ""),
            remember=str(data.get("remember") or "").lower() in ("1", "true", "on", "yes"),
        )
        answer = await self._call("CreateSession", message, anonymous(request))
        response = json_response(_session_json(answer.session, request))
        response.set_cookie(
            SESSION_COOKIE,
            answer.session.session_token,
            max_age=max(0, int(answer.session.expires_at - time.time())),
            httponly=True,
            samesite="Lax",
            path="/",
        )
        return response

    async def _who(self, request: web.Request) -> web.Response:
        answer = await self._call("GetCurrentUser", auth_pb2.GetCurrentUserRequest(), call_of(request))
        if answer.HasField("session"):
            return json_response(_session_json(answer.session, request))
        return json_response({"status": "ok", "user_id": answer.user.id, "username": answer.user.username})

    async def _end(self, request: web.Request) -> web.Response:
        data = await _payload(request)
        if token := data.get("token"):
            # Holding a token is enough to revoke it: it authenticates its own revocation.
            call = Call(metadata={"authorization": f"Bearer {token}"}, peer=request.remote or "")
            await self._call("RevokeToken", auth_pb2.RevokeTokenRequest(token=str(token)), call)
            return json_response({"status": "ok"})
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            raise GatewayError(401, "INVALID_CREDENTIALS", "Invalid session")
        # No CSRF token needed: the worst a forged log-out does is log the user out.
        call = Call(metadata={"authorization": f"Session {session}"}, peer=request.remote or "")
        await self._call("RevokeToken", auth_pb2.RevokeTokenRequest(token=session), call)
        response = json_response({"status": "ok", "redirect": request.query.get("redirect") or "/"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response
