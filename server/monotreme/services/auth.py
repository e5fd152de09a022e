"""`monotreme.v1.AuthService`: users, log-in and API tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from monotreme.call import Call
from monotreme.errors import PermissionDenied
from monotreme.identity.accounts import Accounts
from monotreme.identity.credentials import Credentials
from monotreme.identity.jwts import Jwts
from monotreme.identity.revocation import Revocations
from monotreme.services.table import public
from monotreme.store import TokenRow, UserRow
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
    )


def session_message(row: TokenRow, secret: str) -> auth_pb2.Session:
    return auth_pb2.Session(
        user_id=row.user_id,
        session_token=secret,
        csrf_token=row.csrf_token or "",
        expires_at=row.expires_at or 0.0,
    )


class AuthService:
    def __init__(
        self, accounts: Accounts, credentials: Credentials, jwts: Jwts, revocations: Revocations
    ) -> None:
        self._accounts = accounts
        self._credentials = credentials
        self._jwts = jwts
        self._revocations = revocations

    @public
    async def Register(self, request: auth_pb2.RegisterRequest, call: Call) -> auth_pb2.RegisterResponse:
        # The first user registers freely (one atomic step: of concurrent
        # sign-ups one wins); after that, only an admin may add users.
        if self._accounts.has_users() and "authorization" in call.metadata:
            if not (await self._credentials.authenticate(call)).is_admin:
                raise PermissionDenied("only an admin may register users", reason="ADMIN_REQUIRED")
            user = await self._accounts.add_user(request.username, request.password, request.is_admin)
        else:
            user = await self._accounts.register_first(request.username, request.password)
        return auth_pb2.RegisterResponse(user=user_message(user))

    @public
    async def Login(self, request: auth_pb2.LoginRequest, call: Call) -> auth_pb2.LoginResponse:
        user = await self._accounts.check_password(request.username, request.password, call.peer)
        token, expires_at = self._jwts.issue(user, request.expiry_days)
        return auth_pb2.LoginResponse(token=token, expires_at=expires_at)

    @public
    async def CreateSession(
        self, request: auth_pb2.CreateSessionRequest, call: Call
    ) -> auth_pb2.CreateSessionResponse:
        user = await self._accounts.check_password(request.username, request.password, call.peer)
        secret, row = self._accounts.create_session(user, request.remember)
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
        secret, token = self._accounts.create_token(
            call.user.user_id, request.name, request.expiry_days or None
        )
        return auth_pb2.CreateTokenResponse(token=secret, info=token_message(token))

    async def ListTokens(
        self, request: auth_pb2.ListTokensRequest, call: Call
    ) -> auth_pb2.ListTokensResponse:
        return auth_pb2.ListTokensResponse(
            tokens=[token_message(t) for t in self._accounts.tokens(call.user)]
        )

    async def RevokeToken(
        self, request: auth_pb2.RevokeTokenRequest, call: Call
    ) -> auth_pb2.RevokeTokenResponse:
        if request.token:
            self._accounts.revoke_secret(call.user, request.token)
        else:
            self._accounts.revoke_token(call.user, request.id)
        return auth_pb2.RevokeTokenResponse(status="ok")

    async def GetOwnerToken(
        self, request: auth_pb2.GetOwnerTokenRequest, call: Call
    ) -> auth_pb2.GetOwnerTokenResponse:
        if not call.user.is_admin:
            raise PermissionDenied("only an admin may start an owner session", reason="ADMIN_REQUIRED")
        # Each call starts a new session; idle ones lapse after two weeks.
        name = f"owner-{uuid.uuid4().hex[:12]}"
        secret, token = self._accounts.create_token(call.user.user_id, name, None, kind="owner")
        return auth_pb2.GetOwnerTokenResponse(token=secret, info=token_message(token))

    async def ListUsers(self, request: auth_pb2.ListUsersRequest, call: Call) -> auth_pb2.ListUsersResponse:
        if not call.user.is_admin:
            raise PermissionDenied("only an admin may list users", reason="ADMIN_REQUIRED")
        return auth_pb2.ListUsersResponse(users=[user_message(user) for user in self._accounts.users()])

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
