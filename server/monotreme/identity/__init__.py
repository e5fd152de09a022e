"""Core: who a caller is. Credentials (bearer tokens, JWTs, sessions, basic)
authenticate calls; accounts hold users and their tokens; the throttle slows
password guessing; revocations end what used a revoked token; permissions
decide what a caller may do; the audit trail records who did what."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monotreme.config import AuthSettings
from monotreme.identity.accounts import Accounts
from monotreme.identity.audit import Audit
from monotreme.identity.credentials import Credentials, static_token
from monotreme.identity.jwts import KEY_FILE, Jwts, signing_key
from monotreme.identity.permissions import Permissions
from monotreme.identity.revocation import Revocations
from monotreme.identity.throttle import Throttle
from monotreme.store import Store


@dataclass(frozen=True)
class Identity:
    """The identity parts of one hub, wired to one store and one signing key."""

    accounts: Accounts
    credentials: Credentials
    jwts: Jwts
    revocations: Revocations
    audit: Audit
    permissions: Permissions

    @staticmethod
    def open(store: Store, data_dir: Path, settings: AuthSettings) -> Identity:
        jwts = Jwts(signing_key(data_dir / KEY_FILE), settings)
        revocations = Revocations()
        audit = Audit(store)
        accounts = Accounts(store, jwts, Throttle(settings, store), revocations, settings, audit)
        credentials = Credentials(store, accounts, jwts, revocations, settings, static_token())
        return Identity(accounts, credentials, jwts, revocations, audit, Permissions(audit))
