"""Users, log-in, JWTs and API tokens over gRPC: every way a call is let in or refused."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import jwt
import pytest
from monotreme.config import AuthSettings
from monotreme.identity import Identity
from monotreme.server import Server
from monotreme.store.sqlite import SqliteStore
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import ADMIN_PASSWORD, Credentials

MakeServer = Callable[..., Awaitable[Server]]


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_before_any_user_calls_need_registration(auth_stub: auth_pb2_grpc.AuthServiceStub) -> None:
    error = await refused(auth_stub.ListTokens(auth_pb2.ListTokensRequest()))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "Please create a user first"


async def test_first_user_registers_freely_and_is_admin(auth_stub: auth_pb2_grpc.AuthServiceStub) -> None:
    response = await auth_stub.Register(auth_pb2.RegisterRequest(username="alice", password=ADMIN_PASSWORD))
    assert (response.user.id, response.user.username, response.user.is_admin) == (1, "alice", True)
    error = await refused(auth_stub.Register(auth_pb2.RegisterRequest(username="mallory", password="x" * 12)))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "Registrations are disabled")


async def test_only_admins_register_more_users(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    bob = await auth_stub.Register(
        auth_pb2.RegisterRequest(username="bob", password="bob-password"), metadata=admin.metadata
    )
    assert (bob.user.username, bob.user.is_admin) == ("bob", False)
    bob_token = (await auth_stub.Login(auth_pb2.LoginRequest(username="bob", password="bob-password"))).token
    error = await refused(
        auth_stub.Register(
            auth_pb2.RegisterRequest(username="carol", password="x" * 12), metadata=bearer(bob_token)
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    duplicate = await refused(
        auth_stub.Register(
            auth_pb2.RegisterRequest(username="bob", password="x" * 12), metadata=admin.metadata
        )
    )
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS
    assert duplicate.details() == "user 'bob' already exists"


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("", "long enough", "username"),
        ("has space", "long enough", "username"),
        ("dave", "short", "password"),
    ],
)
async def test_registration_names_the_bad_field(
    auth_stub: auth_pb2_grpc.AuthServiceStub, username: str, password: str, field: str
) -> None:
    error = await refused(auth_stub.Register(auth_pb2.RegisterRequest(username=username, password=password)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}:")


async def test_login_answers_a_jwt_that_identifies_the_user(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    login = await auth_stub.Login(
        auth_pb2.LoginRequest(username="admin", password=ADMIN_PASSWORD, expiry_days=2)
    )
    assert login.expires_at == pytest.approx(time.time() + 2 * 86400, abs=5)
    me = await auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(login.token))
    assert (me.user.username, me.user.is_admin) == ("admin", True)


async def test_wrong_password_is_invalid_credentials(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    for username in ("admin", "nobody"):
        error = await refused(
            auth_stub.Login(auth_pb2.LoginRequest(username=username, password="wrong password"))
        )
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "Invalid credentials")


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "missing credentials: send 'authorization: Bearer <token>'"),
        ((("authorization", "Bearer"),), "missing credentials: send 'authorization: Bearer <token>'"),
        ((("authorization", "Bearer garbage"),), "Invalid JWT token"),
        ((("authorization", "Bearer mt_not-a-real-token"),), "invalid or revoked token"),
        ((("authorization", "Basic !!!"),), "Invalid credentials"),
        ((("authorization", "Basic YWRtaW46d3Jvbmc="),), "Invalid credentials"),  # admin:wrong
    ],
)
async def test_bad_credentials_are_unauthenticated(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    admin: Credentials,
    metadata: tuple[tuple[str, str], ...],
    message: str,
) -> None:
    error = await refused(auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=metadata))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, message)


async def test_basic_credentials_are_accepted(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    me = await auth_stub.GetCurrentUser(
        auth_pb2.GetCurrentUserRequest(), metadata=(("authorization", f"Basic {basic}"),)
    )
    assert me.user.username == "admin"


async def test_expired_and_forged_jwts_are_refused(
    server: Server, auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    key = (server.config.data_dir / "jwt.secret").read_bytes()
    claims = {"sub": "1", "username": "admin", "jti": "x", "iat": int(time.time()) - 100}
    expired = jwt.encode({**claims, "exp": int(time.time()) - 10}, key, algorithm="HS256")
    error = await refused(
        auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(expired))
    )
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "the token has expired")
    forged = jwt.encode(
        {**claims, "exp": int(time.time()) + 100},
        b"not the key of this hub, but long enough",
        algorithm="HS256",
    )
    error = await refused(auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(forged)))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "Invalid JWT token")


async def test_api_tokens_are_listed_without_secrets_and_revoked_at_once(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    created = await auth_stub.CreateToken(
        auth_pb2.CreateTokenRequest(name="phone", expiry_days=30), metadata=admin.metadata
    )
    assert created.token.startswith("mt_")
    assert (created.info.name, created.info.username, created.info.kind) == ("phone", "admin", "api")
    assert created.info.expires_at == pytest.approx(time.time() + 30 * 86400, abs=5)
    me = await auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(created.token))
    assert me.user.username == "admin"

    listed = await auth_stub.ListTokens(auth_pb2.ListTokensRequest(), metadata=admin.metadata)
    assert [(t.id, t.name) for t in listed.tokens] == [(created.info.id, "phone")]
    assert created.token not in str(listed)

    duplicate = await refused(
        auth_stub.CreateToken(auth_pb2.CreateTokenRequest(name="phone"), metadata=admin.metadata)
    )
    assert (duplicate.code(), duplicate.details()) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "a token named 'phone' already exists",
    )

    await auth_stub.RevokeToken(auth_pb2.RevokeTokenRequest(id=created.info.id), metadata=admin.metadata)
    error = await refused(
        auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(created.token))
    )
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "invalid or revoked token")
    again = await refused(
        auth_stub.RevokeToken(auth_pb2.RevokeTokenRequest(id=created.info.id), metadata=admin.metadata)
    )
    assert again.code() == grpc.StatusCode.NOT_FOUND


async def test_tokens_are_revoked_by_their_secret_too(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    login = await auth_stub.Login(auth_pb2.LoginRequest(username="admin", password=ADMIN_PASSWORD))
    api = await auth_stub.CreateToken(auth_pb2.CreateTokenRequest(name="script"), metadata=admin.metadata)
    for secret in (login.token, api.token):
        await auth_stub.RevokeToken(auth_pb2.RevokeTokenRequest(token=secret), metadata=admin.metadata)
        error = await refused(
            auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(secret))
        )
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error.details() in ("the token has been revoked", "invalid or revoked token")
    garbage = await refused(
        auth_stub.RevokeToken(auth_pb2.RevokeTokenRequest(token="x.y.z"), metadata=admin.metadata)
    )
    assert (garbage.code(), garbage.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "token: not a token of this hub",
    )


async def test_users_cannot_see_or_revoke_each_others_tokens(
    auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    await auth_stub.Register(
        auth_pb2.RegisterRequest(username="bob", password="bob-password"), metadata=admin.metadata
    )
    bob = bearer(
        (await auth_stub.Login(auth_pb2.LoginRequest(username="bob", password="bob-password"))).token
    )
    admin_token = await auth_stub.CreateToken(
        auth_pb2.CreateTokenRequest(name="laptop"), metadata=admin.metadata
    )
    assert list((await auth_stub.ListTokens(auth_pb2.ListTokensRequest(), metadata=bob)).tokens) == []
    error = await refused(
        auth_stub.RevokeToken(auth_pb2.RevokeTokenRequest(id=admin_token.info.id), metadata=bob)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    by_secret = await refused(
        auth_stub.RevokeToken(auth_pb2.RevokeTokenRequest(token=admin.token), metadata=bob)
    )
    assert by_secret.code() == grpc.StatusCode.NOT_FOUND
    owner = await refused(auth_stub.GetOwnerToken(auth_pb2.GetOwnerTokenRequest(), metadata=bob))
    assert owner.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_owner_token_expires_after_two_weeks_unused(
    server: Server, auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials, make_server: MakeServer
) -> None:
    owner = await auth_stub.GetOwnerToken(auth_pb2.GetOwnerTokenRequest(), metadata=admin.metadata)
    assert (owner.info.kind, owner.info.expires_at) == ("owner", 0.0)
    me = await auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(owner.token))
    assert me.user.username == "admin"

    async def idle_for(days: float) -> auth_pb2.GetCurrentUserResponse:
        """The token's last use moved back in the file; a server started afresh reads it."""
        with sqlite3.connect(server.config.data_dir / "monotreme.db") as db:
            idle_since = time.time() - days * 86400
            db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (idle_since, owner.info.id))
        later = await make_server(data_dir=server.config.data_dir)
        async with grpc.aio.insecure_channel(later.grpc_target) as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            request = auth_pb2.GetCurrentUserRequest()
            answer: auth_pb2.GetCurrentUserResponse = await stub.GetCurrentUser(
                request, metadata=bearer(owner.token)
            )
            return answer

    # Thirteen days idle: still good, and using it restarts the clock.
    assert (await idle_for(13)).user.username == "admin"
    with sqlite3.connect(server.config.data_dir / "monotreme.db") as db:
        (last_used,) = db.execute("SELECT last_used_at FROM tokens WHERE id = ?", (owner.info.id,)).fetchone()
    assert last_used == pytest.approx(time.time(), abs=5)
    # Fifteen days idle: expired.
    error = await refused(idle_for(15))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "the owner token expired after going unused",
    )


async def test_expired_api_token_is_refused(
    server: Server, auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    created = await auth_stub.CreateToken(
        auth_pb2.CreateTokenRequest(name="short", expiry_days=1), metadata=admin.metadata
    )
    with sqlite3.connect(server.config.data_dir / "monotreme.db") as db:
        db.execute("UPDATE tokens SET expires_at = ? WHERE id = ?", (time.time() - 1, created.info.id))
    error = await refused(
        auth_stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=bearer(created.token))
    )
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "the token has expired")


async def test_repeated_failed_logins_are_throttled(
    make_server: Callable[..., Awaitable[Server]],
) -> None:
    server = await make_server("auth:\n  max_failed_logins: 3\n  lockout_seconds: 60\n")
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        await stub.Register(auth_pb2.RegisterRequest(username="admin", password=ADMIN_PASSWORD))
        for _ in range(3):
            error = await refused(stub.Login(auth_pb2.LoginRequest(username="admin", password="guess")))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        # Locked now, even with the right password.
        error = await refused(stub.Login(auth_pb2.LoginRequest(username="admin", password=ADMIN_PASSWORD)))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.details().startswith("too many failed log-ins: try again in")


async def test_secrets_and_database_are_private(server: Server, admin: Credentials) -> None:
    for name in ("jwt.secret", "monotreme.db"):
        assert os.stat(server.config.data_dir / name).st_mode & 0o777 == 0o600


async def test_revoking_a_token_ends_its_open_streams(
    server: Server, channel: grpc.aio.Channel, auth_stub: auth_pb2_grpc.AuthServiceStub, admin: Credentials
) -> None:
    created = await auth_stub.CreateToken(auth_pb2.CreateTokenRequest(name="tablet"), metadata=admin.metadata)
    stream = hub_pb2_grpc.HubServiceStub(channel).StreamEvents(
        hub_pb2.StreamEventsRequest(), metadata=bearer(created.token)
    )
    await stream.wait_for_connection()
    await auth_stub.RevokeToken(auth_pb2.RevokeTokenRequest(id=created.info.id), metadata=admin.metadata)
    error = await refused(stream.read())
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "the token has been revoked")
    assert server.hub.bus.subscriber_count == 0


def test_token_secrets_are_not_stored(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    accounts = Identity.open(store, tmp_path, AuthSettings()).accounts
    asyncio.run(accounts.add_user("alice", "alice-password"))
    secret, _ = accounts.create_token("alice", "t")
    store.close()
    assert secret.encode() not in (tmp_path / "db").read_bytes()
