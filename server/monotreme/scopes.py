"""Scopes: what a caller may do, as its role and its token's scopes say.
Pure decisions, light to import; identity/permissions.py refuses (and
audits) with them, once for every door.

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

from monotreme.call import Principal
from monotreme.errors import InvalidArgument

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
        kind, pattern = split(scope)
        if kind is None or (pattern is not None and not _PATTERN.match(pattern)):
            raise InvalidArgument(
                f"unknown scope {scope!r}: use execute:<pattern>, events:read[:<type pattern>], "
                "events:publish[:<type pattern>], tokens or admin",
                reason="INVALID_SCOPE",
            )
    return tuple(dict.fromkeys(scopes))


def split(scope: str) -> tuple[str | None, str | None]:
    """(kind, pattern) of a scope; kind None when it is no scope."""
    if scope in (ADMIN, TOKENS, EVENTS_READ, EVENTS_PUBLISH):
        return scope, None
    for kind in (EXECUTE, EVENTS_READ, EVENTS_PUBLISH):
        if scope.startswith(kind + ":"):
            return kind, scope[len(kind) + 1 :]
    return None, None


@functools.lru_cache(maxsize=4096)
def patterns(scopes: tuple[str, ...], kind: str) -> tuple[str, ...] | None:
    """The globs `scopes` grant for `kind` (`*` for a bare `events:read`);
    None when they grant everything (no scopes, or `admin`)."""
    if not scopes or ADMIN in scopes:
        return None
    found = []
    for scope in scopes:
        scope_kind, pattern = split(scope)
        if scope_kind == kind:
            found.append(pattern or "*")
    return tuple(found)


def granted(principal: Principal, kind: str, *names: str) -> bool:
    if not principal.scopes:  # most callers: nothing to match
        return True
    globs = patterns(principal.scopes, kind)
    return globs is None or any(fnmatch.fnmatchcase(n, g) for g in globs for n in names)


def unrestricted(principal: Principal) -> bool:
    """Whether the caller may do everything its role allows (no scopes, or `admin`)."""
    return patterns(principal.scopes, ADMIN) is None


def may_run(principal: Principal, action: str, admin_only: bool) -> bool:
    """Whether the caller may run the action: its role, and its scopes, allow it."""
    return (principal.is_admin or not admin_only) and granted(principal, EXECUTE, action)


def short_name(event_type: str) -> str:
    return event_type.rsplit(".", 1)[-1]


def may_read(principal: Principal, event_type: str) -> bool:
    """Whether the caller may see an event of this type (as published: its full name)."""
    return granted(principal, EVENTS_READ, event_type, short_name(event_type))


def covers(principal: Principal, scope: str) -> bool:
    """Whether the caller's own scopes grant at least what `scope` does: a
    scoped token makes no token mightier than itself. A bare `events:read`
    covers any `events:read:...`; `execute:light.*` covers any `execute:light.`
    pattern (a trailing `*` after wildcard-free text covers what starts with it)."""
    if unrestricted(principal) or scope in principal.scopes:
        return True
    kind, pattern = split(scope)
    if kind in (TOKENS, ADMIN) or kind is None or pattern is None:
        return False
    for held in patterns(principal.scopes, kind) or ():
        prefix = held[:-1]
        if held.endswith("*") and not _WILDCARDS & set(prefix) and pattern.startswith(prefix):
            return True
    return False
