"""The audit trail: log-ins and failed ones, tokens created and revoked,
users added and refused calls, with who, what, when and from where. The
store keeps the newest records only, so a caller refused over and over
cannot grow it without bound."""

from __future__ import annotations

import logging
import time

from monotreme.call import Principal
from monotreme.store import AuditRow, Store

log = logging.getLogger(__name__)

LOGIN = "login"
LOGIN_FAILED = "login_failed"
TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
USER_ADDED = "user_added"
DENIED = "denied"
KINDS = (LOGIN, LOGIN_FAILED, TOKEN_CREATED, TOKEN_REVOKED, USER_ADDED, DENIED)
# Records kept: the oldest go as new ones come.
KEEP = 10_000


class Audit:
    def __init__(self, store: Store, keep: int = KEEP) -> None:
        self._store = store
        self._keep = keep

    def record(self, kind: str, who: Principal | str | None, what: str, peer: str = "") -> None:
        """Records an event; `who` is the caller (or the name it gave), None for nobody known."""
        username = who.username if isinstance(who, Principal) else who or ""
        self._store.add_audit_record(time.time(), kind, username, what, peer, self._keep)
        # Refusals in the log too, where an operator's tools watch for them.
        level = logging.INFO if kind in (DENIED, LOGIN_FAILED) else logging.DEBUG
        who, where = username or "(anonymous)", peer or "(local)"
        log.log(level, "audit: %s by %s from %s: %s", kind, who, where, what)

    def records(self, limit: int, before: int = 0) -> list[AuditRow]:
        """The newest records first, older than record `before` when given."""
        return self._store.audit_records(limit, before)
