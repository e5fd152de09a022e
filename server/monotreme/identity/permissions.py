"""Permissions: what a caller may do, decided here once for every door.

A caller has a role (admin or user) and, when it called with a scoped API
token, that token's scopes. No scopes means everything the role allows; a
scope never grants more than the role. Scopes:

* `execute:<glob>` — run the actions and procedures whose name matches;
* `events:read[:<glob>]` — stream events (of the types matching);
* `events:publish[:<glob>]` — publish events (of the types matching);
* `tokens` — manage the user's own tokens;
* `admin` — everything the user's role allows.

Event type globs match an event's full type name or its short class name
(`events:read:CustomEvent`, `events:read:platypush.message.event.custom.*`).

Only a caller's own request is checked: what a procedure, hook or schedule
runs in turn runs as the hub, which wrote it.
"""

from __future__ import annotations

import fnmatch
import functools
import re

from monotreme.call import Call, Principal
from monotreme.errors import InvalidArgument, PermissionDenied
from monotreme.identity.audit import DENIED, Audit

ADMIN = "admin"
TOKENS = "tokens"
EXECUTE = "execute"
EVENTS_READ = "events:read"
EVENTS_PUBLISH = "events:publish"
MAX_SCOPES = 64
_PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]!@-]{1,200}$")
_WILDCARDS = frozenset("*?[")


def parse_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The scopes, each checked (InvalidArgument INVALID_SCOPE names a bad one), in order, once each."""
    if len(scopes) > MAX_SCOPES:
        raise InvalidArgument(f"scopes: at most {MAX_SCOPES}", reason="INVALID_SCOPE")
    for scope in scopes:
        kind, pattern = _split(scope)
        if kind is None or (pattern is not None and not _PATTERN.match(pattern)):
            raise InvalidArgument(
                f"unknown scope {scope!r}: use execute:<pattern>, events:read[:<type pattern>], "
                "events:publish[:<type pattern>], tokens or admin",
                reason="INVALID_SCOPE",
            )
    return tuple(dict.fromkeys(scopes))


def _split(scope: str) -> tuple[str | None, str | None]:
    """(kind, pattern) of a scope; kind None when it is no scope."""
    if scope in (ADMIN, TOKENS, EVENTS_READ, EVENTS_PUBLISH):
        return scope, None
    for kind in (EXECUTE, EVENTS_READ, EVENTS_PUBLISH):
        if scope.startswith(kind + ":"):
            return kind, scope[len(kind) + 1 :]
    return None, None


@functools.lru_cache(maxsize=4096)
def _patterns(scopes: tuple[str, ...], kind: str) -> tuple[str, ...] | None:
    """The globs `scopes` grant for `kind` (`*` for a bare `events:read`);
    None when they grant everything (no scopes, or `admin`)."""
    if not scopes or ADMIN in scopes:
        return None
    found = []
    for scope in scopes:
        scope_kind, pattern = _split(scope)
        if scope_kind == kind:
            found.append(pattern or "*")
    return tuple(found)


def _granted(principal: Principal, kind: str, *names: str) -> bool:
    if not principal.scopes:  # most callers: nothing to match
        return True
    patterns = _patterns(principal.scopes, kind)
    return patterns is None or any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names)


def unrestricted(principal: Principal) -> bool:
    """Whether the caller may do everything its role allows (no scopes, or `admin`)."""
    return _patterns(principal.scopes, ADMIN) is None


def may_run(principal: Principal, action: str, admin_only: bool) -> bool:
    """Whether the caller may run the action: its role, and its scopes, allow it."""
    return (principal.is_admin or not admin_only) and _granted(principal, EXECUTE, action)


def _short(event_type: str) -> str:
    return event_type.rsplit(".", 1)[-1]


def may_read(principal: Principal, event_type: str) -> bool:
    """Whether the caller may see an event of this type (as published: its full name)."""
    return _granted(principal, EVENTS_READ, event_type, _short(event_type))


def covers(principal: Principal, scope: str) -> bool:
    """Whether the caller's own scopes grant at least what `scope` does: a
    scoped token makes no token mightier than itself. A bare `events:read`
    covers any `events:read:...`; `execute:light.*` covers any `execute:light.`
    pattern (a trailing `*` after wildcard-free text covers what starts with it)."""
    if unrestricted(principal) or scope in principal.scopes:
        return True
    kind, pattern = _split(scope)
    if kind in (TOKENS, ADMIN) or kind is None or pattern is None:
        return False
    for held in _patterns(principal.scopes, kind) or ():
        prefix = held[:-1]
        if held.endswith("*") and not _WILDCARDS & set(prefix) and pattern.startswith(prefix):
            return True
    return False


class Permissions:
    """The checks a service or the dispatcher makes before it serves a call;
    each refusal is PermissionDenied naming what was missing, and is audited."""

    def __init__(self, audit: Audit) -> None:
        self._audit = audit

    def _deny(self, call: Call, message: str, reason: str) -> PermissionDenied:
        self._audit.record(DENIED, call.principal, message, call.peer)
        return PermissionDenied(message, reason=reason)

    def _need_scope(self, call: Call, scope: str, what: str) -> PermissionDenied:
        return self._deny(call, f"{what}: the token lacks the scope '{scope}'", "MISSING_SCOPE")

    def execute(self, call: Call, action: str) -> None:
        """Refuses an action (or procedure) the caller's scopes do not name;
        checked before the name is resolved, so a scoped token learns nothing
        of what else exists."""
        if call.principal is not None and not _granted(call.principal, EXECUTE, action):
            raise self._need_scope(call, f"{EXECUTE}:{action}", f"running {action}")

    def execute_admin_only(self, call: Call, action: str) -> None:
        """Refuses an admin-only action to a caller that is no admin."""
        if call.principal is not None and not call.principal.is_admin:
            raise self._deny(call, f"{action} is for admins only", "ADMIN_REQUIRED")

    def admin(self, call: Call, what: str) -> None:
        """Refuses what only an admin may do (with an unrestricted token)."""
        principal = call.user
        if not principal.is_admin:
            raise self._deny(call, f"only an admin may {what}", "ADMIN_REQUIRED")
        if not unrestricted(principal):
            raise self._need_scope(call, ADMIN, f"to {what}")

    def tokens(self, call: Call, what: str) -> None:
        """Refuses managing the user's own tokens without the `tokens` scope."""
        principal = call.user
        if not (unrestricted(principal) or TOKENS in principal.scopes):
            raise self._need_scope(call, TOKENS, what)

    def new_scopes(self, call: Call, scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """The scopes of a token the caller creates, checked: a scoped caller
        passes on only what it holds, and a token it creates unscoped gets its scopes."""
        parsed = parse_scopes(scopes)
        principal = call.user
        if unrestricted(principal):
            return parsed
        if not parsed:
            return principal.scopes
        for scope in parsed:
            if not covers(principal, scope):
                raise self._need_scope(call, scope, "creating a token with it")
        return parsed

    def read_events(self, call: Call) -> None:
        """Refuses an event stream to a caller that may read no event."""
        principal = call.user
        if _patterns(principal.scopes, EVENTS_READ) == ():
            raise self._need_scope(call, EVENTS_READ, "streaming events")

    def publish(self, call: Call, event_type: str) -> None:
        """Refuses publishing an event of a type (its full name, as it will be
        published) the caller's scopes do not name."""
        if not _granted(call.user, EVENTS_PUBLISH, event_type, _short(event_type)):
            raise self._need_scope(call, f"{EVENTS_PUBLISH}:{_short(event_type)}", f"publishing {event_type}")
