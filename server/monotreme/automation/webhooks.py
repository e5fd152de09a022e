"""Web hooks: a call to `/hook/<name>` becomes a WebhookEvent on the bus, and the
answer of the hook that handles it becomes the HTTP response.

A handler answers with its return value or `event.send_response(...)`: a dict
or list is JSON, a string is text, `(body, status[, headers])` is exactly that.
With no handler, or none that answers, the caller gets Platypush's
`{"status": "ok", ...the event's fields}` as soon as the handlers are done. A
handler that raises answers 500, one too slow 504, and one the hub is too
busy to run 503; none shows a traceback. The caller never waits on the bus: only on the hooks.

A hook with a secret (`webhooks.secrets.<name>`) serves only calls signed
as GitHub and Gitea sign them: `X-Hub-Signature-256: sha256=<hex
HMAC-SHA256 of the raw body>`, checked in constant time before any handler
runs; else 401 with a JSON reason. A sender that also sends
`X-Hub-Timestamp` (Unix seconds) signs `<timestamp>.<body>` instead; with
`webhooks.tolerance` set, a timestamp that far from now, or a signature
already seen within that window, is refused as a replay.

Credentials of this hub never leave the request: every event subscriber
sees the WebhookEvent, and the default answer echoes it. So `Authorization`
and `Cookie` are dropped from its headers, and `X-Token` (and a `token`
query argument) only when it holds a credential of this hub: a hook's own
secret, such as the seed's example checks in `X-Token`, reaches its handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from monotreme.automation.hooks import HookRunner
from monotreme.events.bus import EventBus
from monotreme.events.types import WEBHOOK_EVENT
from monotreme.store import Store
from monotreme.v1 import hub_pb2
from monotreme.values import fill_struct, to_jsonable

# Always a caller's credentials (a session cookie, a bearer token): never passed on.
_CREDENTIAL_HEADERS = frozenset({"Authorization", "Cookie"})
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
SIGNATURE_HEADER = "X-Hub-Signature-256"
TIMESTAMP_HEADER = "X-Hub-Timestamp"
log = logging.getLogger(__name__)


def header_name(name: str) -> str:
    """`x-token` → `X-Token`, as Platypush's clients see header names."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _data(body: bytes, content_type: str) -> Any:
    """The event's `data`: JSON when the body parses as JSON (whatever its
    Content-Type: `curl -d '{...}'` says it is a form), the fields of a form,
    else the text."""
    if not body:
        return ""
    text = body.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        pass
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    return text


def _error(status: int, reason: str, message: str) -> hub_pb2.CallWebhookResponse:
    return _encode({"code": status, "error": reason, "message": message}, status, {})


def _encode(body: Any, status: int, headers: dict[str, str]) -> hub_pb2.CallWebhookResponse:
    if isinstance(body, bytes):
        content, content_type = body, "application/octet-stream"
    elif isinstance(body, str):
        content, content_type = body.encode(), _TEXT
    else:
        content, content_type = orjson.dumps(to_jsonable(body)), _JSON
    given = {header_name(k): v for k, v in headers.items()}
    given.setdefault("Content-Type", content_type)
    return hub_pb2.CallWebhookResponse(status=status, headers=given, body=content)


def answer_of(value: Any) -> hub_pb2.CallWebhookResponse:
    """The HTTP answer for what a handler returned or sent."""
    if not isinstance(value, tuple):
        return _encode(value, 200, {})
    if not 2 <= len(value) <= 3:
        return _error(
            500, "INVALID_HOOK_RESPONSE", "a hook answered a tuple that is not (body, status[, headers])"
        )
    body, status, *rest = value
    headers = rest[0] if rest else {}
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return _error(500, "INVALID_HOOK_RESPONSE", f"a hook answered the invalid HTTP status {status!r}")
    if not isinstance(headers, dict):
        return _error(500, "INVALID_HOOK_RESPONSE", "a hook answered headers that are not a mapping")
    return _encode(body, status, {str(k): str(v) for k, v in headers.items()})


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The `X-Hub-Signature-256` value for a body (and timestamp, when sent)."""
    signed = body if timestamp is None else f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class Signatures:
    """Checks the signatures of hooks that have a secret, and refuses replays."""

    def __init__(self, secrets: Mapping[str, str], tolerance: float | None, store: Store) -> None:
        self._secrets = dict(secrets)
        self._tolerance = tolerance
        # Signatures of timestamped calls, for as long as a replay could pass,
        # in the store: a replay to another process of the hub is caught too.
        self._store = store

    def refusal(self, request: hub_pb2.CallWebhookRequest) -> hub_pb2.CallWebhookResponse | None:
        """The 401 for a call to a hook with a secret that is not signed by
        it (or is a replay); None for a call that may go on."""
        secret = self._secrets.get(request.hook)
        if secret is None:
            return None
        headers = {header_name(k): v for k, v in request.headers.items()}
        given = headers.get(SIGNATURE_HEADER, "").strip()
        timestamp = headers.get(TIMESTAMP_HEADER, "").strip() or None
        if not given:
            return self._refuse(request, "MISSING_SIGNATURE", f"the hook requires {SIGNATURE_HEADER}")
        # Compared in constant time, as bytes (a header need not be ASCII).
        if not hmac.compare_digest(given.encode(), sign(secret, request.body, timestamp).encode()):
            return self._refuse(request, "INVALID_SIGNATURE", f"{SIGNATURE_HEADER} does not match the body")
        if timestamp is None or self._tolerance is None:
            return None
        now = time.time()
        try:
            skew = abs(now - float(timestamp))
        except ValueError:
            skew = float("inf")  # signed, yet no time: nothing to bound a replay by
        if skew > self._tolerance:
            return self._refuse(
                request, "STALE_TIMESTAMP", f"{TIMESTAMP_HEADER} is more than {self._tolerance:g} s from now"
            )
        # A replay passes the timestamp check until twice the tolerance after the first came.
        if not self._store.first_sighting(given, now, now - 2 * self._tolerance):
            return self._refuse(request, "REPLAYED", "this signed call was received already")
        return None

    @staticmethod
    def _refuse(
        request: hub_pb2.CallWebhookRequest, reason: str, message: str
    ) -> hub_pb2.CallWebhookResponse:
        # Logged, not audited: anyone may call a hook, and the audit trail
        # keeps only so many records for what identified callers do.
        log.warning("refused a call to the hook '%s': %s", request.hook, message)
        return _error(401, reason, message)


class Webhooks:
    def __init__(
        self,
        bus: EventBus,
        hooks: HookRunner,
        timeout: float,
        is_credential: Callable[[str], bool],
        signatures: Signatures,
    ) -> None:
        """`is_credential(value)` says whether a value is a credential of this hub."""
        self._bus = bus
        self._hooks = hooks
        self._timeout = timeout
        self._is_credential = is_credential
        # Replaced as a whole when the config is reloaded (secrets rotated).
        self.signatures = signatures

    async def call(self, request: hub_pb2.CallWebhookRequest) -> hub_pb2.CallWebhookResponse:
        if (refusal := self.signatures.refusal(request)) is not None:
            return refusal
        headers = {
            name: value
            for name, value in ((header_name(k), v) for k, v in request.headers.items())
            if name not in _CREDENTIAL_HEADERS and not (name == "X-Token" and self._is_credential(value))
        }
        args = {k: v for k, v in request.args.items() if not (k == "token" and self._is_credential(v))}
        fields = {
            "hook": request.hook,
            "method": request.method.upper(),
            "args": args,
            "data": _data(request.body, headers.get("Content-Type", "")),
            "headers": headers,
        }
        event = hub_pb2.Event()
        try:
            fill_struct(event.args, {"type": WEBHOOK_EVENT, **fields})
        except ValueError as e:  # the caller's data: too deep, a number too large...
            return _error(400, "INVALID_ARGUMENT", f"the request cannot be an event: {e}")
        started = time.monotonic()
        # Subscribers see the event; its hooks run here, where the caller waits
        # for their answer, and not again on the bus's listener path.
        published = await self._bus.publish(event, run_listeners=False)
        outcome = self._hooks.answer(published)
        try:
            kind, value = await asyncio.wait_for(outcome.future, self._timeout)
        except TimeoutError:
            waited = time.monotonic() - started
            return _error(
                504, "HOOK_TIMEOUT", f"the hook '{request.hook}' did not answer within {waited:.0f} s"
            )
        if kind == "error":
            return _error(500, "HOOK_FAILED", value)
        if kind == "busy":
            return _error(503, "HOOKS_BUSY", f"the hook '{request.hook}' was not run: {value}")
        return answer_of({"status": "ok", **fields} if value is None else value)
