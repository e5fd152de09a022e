"""Permissions: the checks the dispatcher and the services make before they
serve a call, with the decisions of monotreme.scopes; each refusal is
PermissionDenied naming what was missing, and goes to the audit trail."""

from __future__ import annotations

from monotreme.call import Call
from monotreme.errors import PermissionDenied
from monotreme.identity.audit import DENIED, Audit
from monotreme.scopes import (
    ADMIN,
    EVENTS_PUBLISH,
    EVENTS_READ,
    EXECUTE,
    TOKENS,
    covers,
    granted,
    parse_scopes,
    patterns,
    short_name,
    unrestricted,
)


class Permissions:
    """The checks, each refusal audited."""

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
        if call.principal is not None and not granted(call.principal, EXECUTE, action):
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
        if patterns(principal.scopes, EVENTS_READ) == ():
            raise self._need_scope(call, EVENTS_READ, "streaming events")

    def publish(self, call: Call, event_type: str) -> None:
        """Refuses publishing an event of a type (its full name, as it will be
        published) the caller's scopes do not name."""
        if not granted(call.user, EVENTS_PUBLISH, event_type, short_name(event_type)):
            raise self._need_scope(
                call, f"{EVENTS_PUBLISH}:{short_name(event_type)}", f"publishing {event_type}"
            )
