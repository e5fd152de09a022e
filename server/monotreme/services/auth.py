"""`monotreme.v1.AuthService`: users, log-in and API tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from monotreme.call import Call
from monotreme.identity import Identity
from monotreme.identity.audit import LOGIN
from monotreme.services.table import public
from monotreme.store import AuditRow, TokenRow, UserRow
from monotreme.v1 import auth_pb2


def user_message(user: UserRow) -> auth_pb2.User:
    return auth_pb2.User(
        id=user.id, username=user.username, is_admin=user.is_admin, created_at=user.created_at
    )


def token_message(token: TokenRow) -> auth_pb2.Token:
    return auth_pb2.Token(
        id=token.id,
        name=token.name,
        username=token.username,
        kind=token.kind,
        created_at=token.created_at,
        expires_at=token.expires_at or 0.0,
        last_used_at=token.last_used_at or 0.0,
        scopes=token.scopes,
    )


def audit_message(record: AuditRow) -> auth_pb2.AuditRecord:
    return auth_pb2.AuditRecord(
        id=record.id,
        at=record.at,
        kind=record.kind,
        username=record.username,
        detail=record.detail,
        peer=record.peer,
    )


def session_message(row: TokenRow, secret: str) -> auth_pb2.Session:
    return auth_pb2.Session(
        user_id=row.user_id,
        session_token=secret,
        csrf_token=row.csrf_token or "",
        expires_at=row.expires_at or 0.0,
    )


# Audit records one ListAuditRecords answers at most, and by default.
_MAX_RECORDS = 1000
_DEFAULT_RECORDS = 100


class AuthService:
    def __init__(self, identity: Identity) -> None:
        self._accounts = identity.accounts
        self._credentials = identity.credentials
        self._jwts = identity.jwts
        self._revocations = identity.revocations
        self._audit = identity.audit
        self._permissions = identity.permissions

    @public
    async def Register(self, request: auth_pb2.RegisterRequest, call: Call) -> auth_pb2.RegisterResponse:
        # The first user registers freely (one atomic step: of concurrent
        # sign-ups one wins); after that, only an admin may add users.
        if self._accounts.has_users() and "authorization" in call.metadata:
            call = call.authenticated(await self._credentials.authenticate(call))
            self._permissions.admin(call, "register users")
            user = await self._accounts.add_user(
                request.username, request.password, request.is_admin, by=call.user, peer=call.peer
            )
        else:
            user = await self._accounts.register_first(request.username, request.password, call.peer)
        return auth_pb2.RegisterResponse(user=user_message(user))

    @public
    async def Login(self, request: auth_pb2.LoginRequest, call: Call) -> auth_pb2.LoginResponse:
        user = await self._accounts.check_password(request.username, request.password, call.peer)
        token, expires_at = self._jwts.issue(user, request.expiry_days)
        self._audit.record(LOGIN, user.username, "logged in for a JWT", call.peer)
        return auth_pb2.LoginResponse(token=token, expires_at=expires_at)

    @public
    async def CreateSession(
        self, request: auth_pb2.CreateSessionRequest, call: Call
    ) -> auth_pb2.CreateSessionResponse:
        user = await self._accounts.check_password(request.username, request.password, call.peer)
        secret, row = self._accounts.create_session(user, request.remember)
        self._audit.record(LOGIN, user.username, "logged in for a browser session", call.peer)
        return auth_pb2.CreateSessionResponse(session=session_message(row, secret))

    async def GetCurrentUser(
        self, request: auth_pb2.GetCurrentUserRequest, call: Call
    ) -> auth_pb2.GetCurrentUserResponse:
        if call.user.kind == "static":  # an admin that is no user
            principal = call.user
            return auth_pb2.GetCurrentUserResponse(
                user=auth_pb2.User(id=principal.user_id, username=principal.username, is_admin=True)
            )
        user = self._accounts.user(call.user.user_id)
        assert user is not None  # it authenticated a moment ago
        answer = auth_pb2.GetCurrentUserResponse(user=user_message(user))
        if call.user.kind == "session" and (row := self._accounts.token(call.user.token_id or 0)):
            # Its CSRF token for the page, never its secret: the HttpOnly
            # cookie keeps that from the page's scripts.
            answer.session.CopyFrom(session_message(row, ""))
        return answer

    async def CreateToken(
        self, request: auth_pb2.CreateTokenRequest, call: Call
    ) -> auth_pb2.CreateTokenResponse:
        self._permissions.tokens(call, "creating a token")
        scopes = self._permissions.new_scopes(call, list(request.scopes))
        secret, token = self._accounts.create_token(
            call.user.user_id, request.name, request.expiry_days or None, scopes=scopes, peer=call.peer
        )
        return auth_pb2.CreateTokenResponse(token=secret, info=token_message(token))

    async def ListTokens(
        self, request: auth_pb2.ListTokensRequest, call: Call
    ) -> auth_pb2.ListTokensResponse:
        self._permissions.tokens(call, "listing tokens")
        return auth_pb2.ListTokensResponse(
            tokens=[token_message(t) for t in self._accounts.tokens(call.user)]
        )

    async def RevokeToken(
        self, request: auth_pb2.RevokeTokenRequest, call: Call
    ) -> auth_pb2.RevokeTokenResponse:
        # A token may always revoke itself (DELETE /auth authenticates with
        # the token it revokes); any other needs the `tokens` scope.
        own = (
            request.token == call.metadata.get("authorization", "").partition(" ")[2].strip()
            if request.token
            else request.id == call.user.token_id
        )
        if not own:
            self._permissions.tokens(call, "revoking a token")
        if request.token:
            self._accounts.revoke_secret(call.user, request.token, call.peer)
        else:
            self._accounts.revoke_token(call.user, request.id, call.peer)
        return auth_pb2.RevokeTokenResponse(status="ok")

    async def GetOwnerToken(
        self, request: auth_pb2.GetOwnerTokenRequest, call: Call
    ) -> auth_pb2.GetOwnerTokenResponse:
        self._permissions.admin(call, "start an owner session")
        # Each call starts a new session; idle ones lapse after two weeks.
        name = f"owner-{uuid.uuid4().hex[:12]}"
        secret, token = self._accounts.create_token(
            call.user.user_id, name, None, kind="owner", peer=call.peer
        )
        return auth_pb2.GetOwnerTokenResponse(token=secret, info=token_message(token))

    async def ListUsers(self, request: auth_pb2.ListUsersRequest, call: Call) -> auth_pb2.ListUsersResponse:
        self._permissions.admin(call, "list users")
        return auth_pb2.ListUsersResponse(users=[user_message(user) for user in self._accounts.users()])

    async def ListAuditRecords(
        self, request: auth_pb2.ListAuditRecordsRequest, call: Call
    ) -> auth_pb2.ListAuditRecordsResponse:
        self._permissions.admin(call, "read the audit trail")
        limit = min(request.limit, _MAX_RECORDS) if request.limit > 0 else _DEFAULT_RECORDS
        records = self._audit.records(limit, max(request.before, 0))
        return auth_pb2.ListAuditRecordsResponse(records=[audit_message(r) for r in records])

    async def WatchCredentials(
        self, request: auth_pb2.WatchCredentialsRequest, call: Call
    ) -> AsyncIterator[auth_pb2.WatchCredentialsResponse]:
        watch = self._revocations.watch(call.user)
        try:
            await call.stream_started()
            await watch.ended.wait()
        finally:
            self._revocations.unwatch(watch)
        raise watch.error()
        yield auth_pb2.WatchCredentialsResponse()  # an async generator that sends nothing
