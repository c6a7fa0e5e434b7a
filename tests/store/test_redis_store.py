"""What the Redis engine promises beyond the contract: its keys, its secrets."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config.settings import StateSettings
from proxy.store.base import StoreUnavailable
from proxy.store.claims import ClaimWindow, Taken
from proxy.store.inbox import InboxReply, InboxReport
from proxy.store.logins import LoginLimits
from proxy.store.open import open_store
from proxy.store.queues import QueuedReply, QueuedReport
from proxy.store.redis.queues import report_item
from proxy.store.redis.store import RedisStore, server_of
from proxy.store.sends import SendRecord
from proxy.store.sqlite.store import SqliteStore
from tests.redis_server import RedisServer

T0 = 1_700_000_000_000


async def test_of_two_daemons_racing_one_retry_one_claims(redis_server: RedisServer) -> None:
    prefix = f"race-{uuid.uuid4().hex[:8]}:"
    a = await RedisStore.open(redis_server.url, prefix=prefix)
    b = await RedisStore.open(redis_server.url, prefix=prefix)
    phones = [f"138{i:08d}" for i in range(40)]  # within the pool (issue 17)
    window = ClaimWindow(T0, 600_000, 60_000)
    try:
        found_a, found_b = await asyncio.gather(
            *(
                asyncio.gather(
                    *(s.claims.claim_recipients("acme", "d1", sid, [p], window) for p in phones)
                )
                for s, sid in ((a, "send-a"), (b, "send-b"))
            )
        )
    finally:
        await a.close()
        await b.close()
    # Each number: claimed by exactly one, seen as unresolved by the other.
    for phone, got_a, got_b in zip(phones, found_a, found_b, strict=True):
        assert sorted([got_a, got_b], key=len) == [[], [Taken(phone, False)]]


async def test_every_key_is_under_the_prefix(redis_server: RedisServer) -> None:
    prefix = f"keys-{uuid.uuid4().hex[:8]}:"
    store = await RedisStore.open(redis_server.url, prefix=prefix)
    try:
        record = SendRecord("s", "a:b", "v", "13800138000", "accepted", "0", "m", "d1", 1, T0)
        window = ClaimWindow(T0, 600_000, 60_000)
        await store.claims.claim_recipients("a:b", "d1", "s", ["13800138000"], window)
        await store.sends.record_sends([record])
        await store.passwords.set_password_digest("a:b", "X" * 32)
        logins = store.logins
        await logins.count_failure("a:b", "10.0.0.1", LoginLimits(60_000, 60_000, 1, 1))
        await logins.remember([("a:b", "10.0.0.1")], T0, 60_000)
        await store.quotas.reserve_quota("a:b", 1, 10)
        await store.queues.enqueue_report("a:b", QueuedReport("13800138000", 1, datetime.now(UTC)))
        await store.queues.enqueue_reply("a:b", QueuedReply("13800138000", "hi", datetime.now(UTC)))
        await store.inbox.add_reports([InboxReport("v", "k", "13800138000", 1, "D", "m", None, T0)])
        await store.inbox.add_replies(
            [InboxReply("v", "k", "13800138000", "hi", None, "", None, None, None, T0)]
        )
        await store.leases.acquire_lease("poll:v:reports", "me", 1000)
        found = await store.claims.claim_recipients("a:b", "d1", "s2", ["13800138000"], window)
        assert found == [Taken("13800138000", True)]
    finally:
        await store.close()
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        keys = [k async for k in raw.scan_iter(match=f"{prefix}*")]
        everything = [k async for k in raw.scan_iter()]
    finally:
        await raw.aclose()
    assert len(keys) > 10
    # Other tests share the server, each under a prefix of its own: none bare.
    assert all(":" in k and not k.startswith(("record", "queue", "inbox")) for k in everything)


def test_the_server_is_named_without_credentials() -> None:
    assert server_of("redis://user:s3cret@cache.local:6380/2") == "redis://cache.local:6380/2"
    assert server_of("rediss://:s3cret@cache.local") == "rediss://cache.local:6379"
    assert server_of("unix:///run/redis.sock?password=s3cret") == "unix:/run/redis.sock"


async def test_an_unreachable_server_is_named_without_the_password() -> None:
    with pytest.raises(StoreUnavailable) as info:
        await RedisStore.open("redis://:s3cret@127.0.0.1:1/0")
    assert "127.0.0.1:1" in str(info.value) and "s3cret" not in str(info.value)


async def test_open_store_opens_the_configured_engine(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    sqlite = await open_store(StateSettings(path=tmp_path / "s.sqlite3"))
    assert isinstance(sqlite, SqliteStore)
    await sqlite.close()
    settings = StateSettings.model_validate(
        {"engine": "redis", "redis_url": redis_server.url, "redis_prefix": "open-test:"}
    )
    store = await open_store(settings)
    try:
        assert isinstance(store, RedisStore) and await store.ping()
        assert repr(store) == f"<RedisStore {redis_server.url} prefix='open-test:' open=True>"
    finally:
        await store.close()
    assert not await store.ping()


@pytest.mark.parametrize(
    ("cpid", "phone"), [("acme", "13800138000"), ('a"c\\me', "+86 138\n"), ("客户", "１３８")]
)
def test_a_queued_report_is_kept_as_json_dumps_would_write_it(cpid: str, phone: str) -> None:
    # Put together by hand for speed: it must read back as the list it stands for.
    report = QueuedReport(phone, 2, datetime(2024, 5, 1, 8, 0, tzinfo=UTC))
    item, ms = report_item(cpid, report)
    assert item == json.dumps([cpid, phone, 2, ms])
    assert json.loads(item) == [cpid, phone, 2, "1714550400000"]
