"""What was acknowledged survives a restart and a kill -9."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import ADMIN_PASSWORD, SpawnedServer

Spawn = Callable[..., Awaitable[SpawnedServer]]


async def _set_up(target: str) -> tuple[str, str]:
    """Registers users, makes a token and sets variables; answers (api token, jwt)."""
    async with grpc.aio.insecure_channel(target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        await auth.Register(auth_pb2.RegisterRequest(username="admin", password=ADMIN_PASSWORD))
        jwt = (await auth.Login(auth_pb2.LoginRequest(username="admin", password=ADMIN_PASSWORD))).token
        metadata = (("authorization", f"Bearer {jwt}"),)
        await auth.Register(
            auth_pb2.RegisterRequest(username="bob", password="bob-password"), metadata=metadata
        )
        token = (await auth.CreateToken(auth_pb2.CreateTokenRequest(name="phone"), metadata=metadata)).token
        request = hub_pb2.ExecuteRequest(action="variable.set")
        for i in range(20):
            request.args.update({f"v{i}": {"n": i}})
            await hub_pb2_grpc.HubServiceStub(channel).Execute(request, metadata=metadata)
    return token, jwt


async def _check(target: str, token: str, jwt: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        for credential in (token, jwt):
            me = await auth.GetCurrentUser(
                auth_pb2.GetCurrentUserRequest(), metadata=(("authorization", f"Bearer {credential}"),)
            )
            assert me.user.username == "admin"
        bob = await auth.Login(auth_pb2.LoginRequest(username="bob", password="bob-password"))
        assert bob.token
        listed = await auth.ListTokens(
            auth_pb2.ListTokensRequest(), metadata=(("authorization", f"Bearer {token}"),)
        )
        assert [t.name for t in listed.tokens] == ["phone"]
        response = await hub_pb2_grpc.HubServiceStub(channel).Execute(
            hub_pb2.ExecuteRequest(action="variable.list"), metadata=(("authorization", f"Bearer {token}"),)
        )
        variables = dict(response.response.output.struct_value)
        assert sorted(variables, key=lambda k: int(k[1:])) == [f"v{i}" for i in range(20)]
        assert variables["v19"]["n"] == 19


@pytest.mark.parametrize("how", ["sigterm", "kill -9"])
async def test_users_tokens_and_variables_survive(
    tmp_path: Path, spawn_server: Spawn, how: str, store_url: str | None
) -> None:
    data = tmp_path / "data"
    store = ("--store", store_url) if store_url else ()
    first = await spawn_server(data, *store)
    token, jwt = await _set_up(first.grpc_target)
    if how == "sigterm":
        assert await first.stop() == 0
    else:
        await first.kill()
    second = await spawn_server(data, *store)
    await _check(second.grpc_target, token, jwt)
