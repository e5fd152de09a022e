"""The store, on each engine (SQLite in the data dir, PostgreSQL): unique
names, ids never reused, exactly one first user among concurrent sign-ups
from several connections, variables, revoked JWTs, schema migrations run
once however many processes open a store together, and log-in failures
shared by the processes on one store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from monotreme.config import AuthSettings
from monotreme.errors import ResourceExhausted
from monotreme.identity.throttle import Throttle
from monotreme.store import Conflict, Store, open_store

OpenStore = Callable[[], Store]


@pytest.fixture
def open_one(tmp_path: Path, store_url: str | None) -> Iterator[OpenStore]:
    """Opens the test's store (another connection to it each time, as another process would)."""
    opened: list[Store] = []

    def open_one() -> Store:
        opened.append(open_store(store_url, tmp_path))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def test_names_are_unique_and_token_ids_never_reused(open_one: OpenStore) -> None:
    store = open_one()
    ada = store.add_user("ada", "hash", False)
    bob = store.add_user("bob", "hash", False)
    assert ada is not None and bob is not None
    assert (ada.is_admin, bob.is_admin) == (True, False)  # the first is an admin
    with pytest.raises(Conflict):
        store.add_user("ada", "other hash", False)
    first = store.add_token(ada.id, "phone", "api", "h1", None)
    with pytest.raises(Conflict):
        store.add_token(ada.id, "phone", "api", "h2", None)
    assert store.add_token(bob.id, "phone", "api", "h3", None).username == "bob"
    last = store.add_token(ada.id, "tablet", "session", "h4", 123.5, csrf_token="csrf")
    assert (last.kind, last.expires_at, last.csrf_token, last.last_used_at) == (
        "session",
        123.5,
        "csrf",
        None,
    )
    assert store.delete_token(last.id) is True
    assert store.delete_token(last.id) is False
    assert store.add_token(ada.id, "tablet", "api", "h5", None).id > last.id > first.id
    store.touch_token(first.id, 1000.25)
    assert [(t.name, t.last_used_at) for t in store.tokens(ada.id)] == [("tablet", None), ("phone", 1000.25)]
    assert store.token_by_secret_hash("h1") == store.token(first.id)
    assert [u.username for u in store.users()] == ["ada", "bob"]


def test_of_concurrent_first_sign_ups_on_several_connections_one_is_first(open_one: OpenStore) -> None:
    stores = [open_one() for _ in range(6)]
    with ThreadPoolExecutor(len(stores)) as pool:
        added = list(
            pool.map(lambda i: stores[i].add_user(f"u{i}", "hash", True, only_first=True), range(len(stores)))
        )
    winners = [user for user in added if user is not None]
    assert len(winners) == 1 and winners[0].is_admin
    assert [u.username for u in stores[0].users()] == [winners[0].username]
    assert stores[0].add_user("late", "hash", True, only_first=True) is None


def test_variables_keep_json_values(open_one: OpenStore) -> None:
    store, other = open_one(), open_one()
    value = {"list": [1, 2.5, "three", None, True], "nested": {"a": {}}}
    store.set_variable("x", value)
    store.set_variable("a", 0)
    assert other.get_variable("x") == value
    store.set_variable("x", "replaced")
    assert other.list_variables() == {"a": 0, "x": "replaced"}
    assert (other.unset_variable("x"), store.unset_variable("x")) == (True, False)
    assert store.get_variable("x") is None


def test_revoked_jwts_are_kept_until_they_would_expire(open_one: OpenStore) -> None:
    store = open_one()
    store.revoke_jwt("old", 1.0)
    store.revoke_jwt("new", 4e9)
    store.revoke_jwt("new", 4e9)  # twice is once
    assert (store.jwt_revoked("old"), store.jwt_revoked("new"), store.jwt_revoked("other")) == (
        False,
        True,
        False,
    )


def test_processes_opening_a_store_together_migrate_it_once(open_one: OpenStore) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_one(), range(4)))
    stores[0].set_variable("seen", True)
    assert [store.get_variable("seen") for store in stores] == [True] * 4


async def test_processes_on_one_store_share_the_log_in_throttle(open_one: OpenStore) -> None:
    settings = AuthSettings(max_failed_logins=2, lockout_seconds=60)
    here, there = Throttle(settings, open_one()), Throttle(settings, open_one())
    here.settle(await here.attempt("ada", "ipv4:10.0.0.1:1"), failed=True)
    there.settle(await there.attempt("ada", "ipv4:10.0.0.1:2"), failed=True)
    for throttle in (here, there):
        with pytest.raises(ResourceExhausted) as locked:
            await throttle.attempt("ada", "ipv4:10.0.0.1:3")
        assert locked.value.reason == "TOO_MANY_ATTEMPTS"
    # Elsewhere, a right password gets through, and writes nothing.
    there.settle(await there.attempt("ada", "ipv4:10.0.0.2:1"), failed=False)
    assert len(here) == 2  # ada at 10.0.0.1, and 10.0.0.1


def test_token_scopes_the_audit_trail_and_hook_signatures(open_one: OpenStore) -> None:
    store, other = open_one(), open_one()
    ada = store.add_user("ada", "hash", True)
    assert ada is not None
    scoped = store.add_token(
        ada.id, "phone", "api", "h1", None, scopes=("execute:procedure.at_home", "tokens")
    )
    plain = store.add_token(ada.id, "laptop", "api", "h2", None)
    assert [(t.name, t.scopes) for t in other.tokens(ada.id)] == [
        ("laptop", ()),
        ("phone", ("execute:procedure.at_home", "tokens")),
    ]
    assert (other.token(scoped.id), other.token(plain.id)) == (scoped, plain)
    # The audit trail keeps the newest records only, whichever process wrote them.
    for n in range(5):
        (store, other)[n % 2].add_audit_record(float(n), "denied", "ada", f"call {n}", "peer", keep=3)
    records = other.audit_records(10)
    assert [(r.at, r.kind, r.username, r.detail, r.peer) for r in records] == [
        (4.0, "denied", "ada", "call 4", "peer"),
        (3.0, "denied", "ada", "call 3", "peer"),
        (2.0, "denied", "ada", "call 2", "peer"),
    ]
    assert [r.detail for r in store.audit_records(1, before=records[0].id)] == ["call 3"]
    # A signature is new once, for every process, until it is forgotten.
    assert store.first_sighting("sha256=aa", 100.0, 0.0)
    assert not other.first_sighting("sha256=aa", 101.0, 0.0)
    assert other.first_sighting("sha256=aa", 300.0, 200.0)  # seen before 200: forgotten
