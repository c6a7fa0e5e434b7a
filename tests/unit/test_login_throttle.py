"""Failed logins lock out their address and their cpid, on SQLite and on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from adapters.esms100.wire import password_digest
from config.loader import settings_from
from proxy.clients import ClientBook
from proxy.login_throttle import LockedOut
from proxy.metrics import Metrics
from proxy.store.base import Store
from proxy.store.redis.store import RedisStore
from proxy.store.sqlite.store import SqliteStore
from tests.redis_server import RedisServer

RIGHT, WRONG = password_digest("acme-pass"), password_digest("guess")
OTHER = password_digest("other-pass")
LOGIN = {"max_failures_per_address": 3, "max_failures_per_client": 5, "lockout_s": 30}
CLIENTS = [
    {"cpid": "acme", "password": "acme-pass"},
    {"cpid": "other", "password": "other-pass"},
]

Opener = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "redis"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens the engine's store, again beside the first as another daemon would (Redis)."""
    prefix = f"login-{uuid.uuid4().hex[:8]}:"
    opened: list[Store] = []

    async def open_() -> Store:
        store: Store
        if request.param == "sqlite":
            store = await SqliteStore.open(tmp_path / f"state{len(opened)}.sqlite3")
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            store = await RedisStore.open(server.url, prefix=prefix)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


async def book_on(store: Store, metrics: Metrics | None = None, **login: Any) -> ClientBook:
    settings = settings_from({"login": {**LOGIN, **login}, "clients": CLIENTS}, "(test)")
    return await ClientBook.load(settings, store, metrics or Metrics(CollectorRegistry(), [], []))


async def refused(book: ClientBook, cpid: str, cppwd: str, address: str) -> str | None:
    """The lock-out scope that refused the login, or None when it was checked."""
    try:
        await book.verify(cpid, cppwd, address)
    except LockedOut as locked:
        return locked.scope
    return None


def sample(metrics: Metrics, name: str, **labels: Any) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_an_address_is_locked_out_right_password_or_wrong(open_store: Opener) -> None:
    metrics = Metrics(CollectorRegistry(), [], [])
    book = await book_on(await open_store(), metrics, lockout_s=1.0)
    for _ in range(3):
        assert await book.verify("acme", WRONG, "10.0.0.1") is None
    # Locked out: the password is not looked at, so right and wrong are alike.
    assert await refused(book, "acme", RIGHT, "10.0.0.1") == "address"
    assert await refused(book, "acme", WRONG, "10.0.0.1") == "address"
    assert await refused(book, "other", OTHER, "10.0.0.1") == "address"
    # Other addresses, and other accounts, are not held.
    assert await book.verify("acme", RIGHT, "10.0.0.2") is not None
    assert await book.verify("other", OTHER, "10.0.0.3") is not None

    assert sample(metrics, "smsproxy_login_failures_total") == 3
    assert sample(metrics, "smsproxy_login_lockouts_total", scope="address") == 1
    assert sample(metrics, "smsproxy_login_lockouts_total", scope="client") == 0
    assert sample(metrics, "smsproxy_logins_refused_total", scope="address") == 3

    await asyncio.sleep(1.1)  # login.lockout_s
    assert await book.verify("acme", RIGHT, "10.0.0.1") is not None


async def test_a_cpid_is_locked_out_but_not_for_the_addresses_it_logs_in_from(
    open_store: Opener,
) -> None:
    metrics = Metrics(CollectorRegistry(), [], [])
    book = await book_on(await open_store(), metrics)
    assert await book.verify("acme", RIGHT, "10.0.0.9") is not None  # the real client
    for n in range(5):  # one failure from each of five addresses
        assert await book.verify("acme", WRONG, f"10.0.1.{n}") is None
    assert sample(metrics, "smsproxy_login_lockouts_total", scope="client") == 1
    assert await refused(book, "acme", RIGHT, "10.0.2.1") == "client"
    assert await refused(book, "acme", RIGHT, "10.0.1.0") == "client"
    # The real client is not locked out, and other accounts are not held.
    assert await book.verify("acme", RIGHT, "10.0.0.9") is not None
    assert await book.verify("other", OTHER, "10.0.2.1") is not None
    # A known address that guesses wrong still counts toward its own lock-out.
    for _ in range(3):
        assert await book.verify("acme", WRONG, "10.0.0.9") is None
    assert await refused(book, "acme", RIGHT, "10.0.0.9") == "address"


async def test_unknown_cpids_are_locked_out_alike(open_store: Opener) -> None:
    book = await book_on(await open_store())
    for n in range(5):
        assert await book.verify("nobody", WRONG, f"10.0.1.{n}") is None
    assert await refused(book, "nobody", WRONG, "10.0.2.1") == "client"


async def test_lockouts_are_shared_by_daemons_on_one_redis(
    redis_server: RedisServer,
) -> None:
    prefix = f"login-{uuid.uuid4().hex[:8]}:"
    a_store = await RedisStore.open(redis_server.url, prefix=prefix)
    b_store = await RedisStore.open(redis_server.url, prefix=prefix)
    try:
        a, b = await book_on(a_store), await book_on(b_store)
        # An address failing through both daemons: their counts add up.
        assert await a.verify("other", WRONG, "10.0.0.5") is None
        assert await b.verify("other", WRONG, "10.0.0.5") is None
        assert await a.verify("other", WRONG, "10.0.0.5") is None
        assert await refused(a, "other", OTHER, "10.0.0.5") == "address"
        assert await refused(b, "other", OTHER, "10.0.0.5") == "address"
        # An address locked out through A: B counts its own first failure of
        # it, learns of the lock-out there, and from then on holds it too.
        for _ in range(3):
            assert await a.verify("nobody", WRONG, "10.0.0.1") is None
        assert await b.verify("stranger", WRONG, "10.0.0.1") is None
        assert await refused(b, "other", OTHER, "10.0.0.1") == "address"

        # The real client logged in through A; B knows its address once A shares it.
        assert await a.verify("acme", RIGHT, "10.0.0.9") is not None
        await a.throttle.share()
        for n in range(5):
            assert await b.verify("acme", WRONG, f"10.0.1.{n}") is None
        assert await refused(b, "acme", RIGHT, "10.0.2.1") == "client"
        # A saw no failure of acme yet: the password decides there, once.
        assert await refused(a, "acme", RIGHT, "10.0.2.1") is None
        assert await a.verify("acme", WRONG, "10.0.2.2") is None
        assert await refused(a, "acme", RIGHT, "10.0.2.3") == "client"
        assert await b.verify("acme", RIGHT, "10.0.0.9") is not None
    finally:
        await a_store.close()
        await b_store.close()


async def test_a_successful_login_costs_no_redis_command(redis_server: RedisServer) -> None:
    store = await RedisStore.open(redis_server.url, prefix=f"login-{uuid.uuid4().hex[:8]}:")
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        book = await book_on(store)
        assert await book.verify("nobody", WRONG, "10.0.0.1") is None  # a failure elsewhere
        before = (await raw.info("stats"))["total_commands_processed"]
        for _ in range(50):
            assert await book.verify("acme", RIGHT, "10.0.0.2") is not None
            assert await book.verify("other", OTHER, "10.0.0.3") is not None
        after = (await raw.info("stats"))["total_commands_processed"]
        assert after - before <= 1, after - before  # the first INFO itself
        # A noted address costs one round trip a login (three commands, pipelined).
        assert await book.verify("acme", RIGHT, "10.0.0.1") is not None
        noted = (await raw.info("stats"))["total_commands_processed"]
        assert noted - after == 1 + 3, noted - after
    finally:
        await store.close()
        await raw.aclose()
