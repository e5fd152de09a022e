"""`monotreme backup` while the hub takes writes, then `monotreme restore` into
an empty data dir: every write acknowledged before the backup is there, and
tokens made before it still work."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from subprocess import PIPE

import grpc
import pytest
from monotreme.server import Server
from monotreme.v1 import auth_pb2, auth_pb2_grpc, hub_pb2, hub_pb2_grpc

from tests.conftest import eventually, register_admin


async def monotreme(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monotreme", *args, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_backup_under_load_then_restore(
    make_server: Callable[..., Awaitable[Server]],
    tmp_path: Path,
    store_url: str | None,
    request: pytest.FixtureRequest,
) -> None:
    server = await make_server(f"store:\n  url: {store_url}\n" if store_url else "")
    store = ("--store", store_url) if store_url else ()
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        admin = await register_admin(channel)
        created = await auth_pb2_grpc.AuthServiceStub(channel).CreateToken(
            auth_pb2.CreateTokenRequest(name="phone"), metadata=admin.metadata
        )
        hub = hub_pb2_grpc.HubServiceStub(channel)
        acknowledged: list[int] = []
        stop = asyncio.Event()

        async def write_load() -> None:
            n = 0
            while not stop.is_set():
                request = hub_pb2.ExecuteRequest(action="variable.set")
                request.args.update({f"v{n}": n})
                answer = await hub.Execute(request, metadata=admin.metadata)
                assert list(answer.response.errors) == []
                acknowledged.append(n)
                n += 1

        load = asyncio.create_task(write_load())
        await eventually(lambda: len(acknowledged) >= 50)
        before_backup = list(acknowledged)
        archive = tmp_path / "hub.tar.gz"
        code, out, err = await monotreme(
            "backup", "--data-dir", str(server.config.data_dir), *store, str(archive)
        )
        assert (code, err) == (0, ""), err
        assert f"{'store.pgdump' if store_url else 'monotreme.db'}, jwt.secret" in out
        stop.set()
        await load
    assert archive.stat().st_mode & 0o777 == 0o600

    restored = tmp_path / "restored"
    # Into an empty database of its own.
    target = request.getfixturevalue("postgres").database() if store_url else None
    store = ("--store", target) if target else ()
    code, out, err = await monotreme("restore", "--data-dir", str(restored), *store, str(archive))
    assert (code, err) == (0, ""), err
    code, _, err = await monotreme("restore", "--data-dir", str(restored), *store, str(archive))
    assert (code, err.strip()) == (
        1,
        f"monotreme: error: data dir: {restored} is not empty: restore into an empty data dir",
    )
    if target:  # nor into a database that holds a hub
        code, _, err = await monotreme("restore", "--data-dir", str(tmp_path / "other"), *store, str(archive))
        assert (code, err.startswith("monotreme: error: store.url: pg_restore failed:")) == (1, True), err

    again = await make_server(f"store:\n  url: {target}\n" if target else "", data_dir=restored)
    async with grpc.aio.insecure_channel(again.grpc_target) as channel:
        token = (("authorization", f"Bearer {created.token}"),)
        answer = await hub_pb2_grpc.HubServiceStub(channel).Execute(
            hub_pb2.ExecuteRequest(action="variable.list"), metadata=token
        )
        stored = answer.response.output.struct_value
        assert [n for n in before_backup if stored[f"v{n}"] != n] == []
        # The JWT signed before the backup too: the signing key came along.
        me = await auth_pb2_grpc.AuthServiceStub(channel).GetCurrentUser(
            auth_pb2.GetCurrentUserRequest(), metadata=admin.metadata
        )
        assert me.user.username == admin.username


async def test_backup_and_restore_refuse_what_is_not_a_hub(tmp_path: Path) -> None:
    code, _, err = await monotreme("backup", "--data-dir", str(tmp_path / "none"), str(tmp_path / "x.tar.gz"))
    assert (code, "holds no hub" in err, "Traceback" in err) == (1, True, False)
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    code, _, err = await monotreme(
        "restore", "--data-dir", str(tmp_path / "new"), str(tmp_path / "junk.tar.gz")
    )
    assert (code, "not a Monotreme backup" in err, "Traceback" in err) == (1, True, False)
