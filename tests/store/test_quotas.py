"""The quotas' part of the store contract."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from proxy.store.base import Store
from proxy.store.claims import ClaimWindow
from proxy.store.quotas import QuotaAsk, QuotaExhausted
from proxy.store.redis.store import RedisStore
from proxy.store.sends import RecordState
from proxy.store.sqlite.store import SqliteStore
from tests.store.contract import T0, UNRESOLVED_MS, WINDOW_MS, record, sent, taken


async def test_quota(store: Store) -> None:
    assert await store.quotas.reserve_quota("acme", 3, 5)
    assert not await store.quotas.reserve_quota("acme", 3, 5)
    assert await store.quotas.quota_used("acme") == 3
    await store.quotas.release_quota("acme", 10)
    assert await store.quotas.quota_used("acme") == 0


async def test_concurrent_reservations_never_pass_the_quota(two: tuple[Store, Store]) -> None:
    a, b = two
    if not isinstance(a, RedisStore):
        # One daemon a SQLite file, its quota in that daemon's memory: its own
        # sends race, the first of them while the figure is read from the file.
        b = a
    granted = await asyncio.gather(*(s.quotas.reserve_quota("acme", 3, 50) for s in (a, b) * 20))
    assert sum(granted) == 16
    assert await b.quotas.quota_used("acme") == 48


async def test_a_reservation_survives_a_reopen(
    opener: Callable[[], Awaitable[Store]],
) -> None:
    store = await opener()
    assert await store.quotas.reserve_quota("acme", 4, 10)
    await store.quotas.release_quota("acme", 1)
    await store.close()
    again = await opener()
    try:
        assert await again.quotas.quota_used("acme") == 3
        assert not await again.quotas.reserve_quota("acme", 8, 10)
    finally:
        await again.close()


async def test_claims_reserve_the_quota_for_the_recipients_not_taken(store: Store) -> None:
    await sent(store, [record("13800138000")])  # a retry finds this one accepted
    window = ClaimWindow(T0, WINDOW_MS, UNRESOLVED_MS)
    phones = ["13800138000", "13800138001", "13800138002"]
    found = await store.claims.claim_recipients("acme", "d1", "s2", phones, window, QuotaAsk(2, 10))
    assert [t.phone for t in found] == ["13800138000"]
    assert await store.quotas.quota_used("acme") == 4  # two recipients, two segments each
    # Past the quota: refused whole, nothing reserved and nothing claimed.
    more = ["13900139000", "13900139001", "13900139002"]
    with pytest.raises(QuotaExhausted):
        await store.claims.claim_recipients("acme", "d1", "s3", more, window, QuotaAsk(2, 9))
    assert await store.quotas.quota_used("acme") == 4
    assert await taken(store, more, send_id="s4") == {}
    # Every recipient taken: nothing to reserve, whatever is left.
    assert await store.quotas.reserve_quota("acme", 6, 10)
    again = await store.claims.claim_recipients(
        "acme", "d1", "s5", ["13800138000"], window, QuotaAsk(2, 10)
    )
    assert [t.phone for t in again] == ["13800138000"]


async def test_claims_reserve_exactly_across_daemons(two: tuple[Store, Store]) -> None:
    a, b = two
    if not isinstance(a, RedisStore):
        b = a  # one daemon a SQLite file: its own sends race
    window = ClaimWindow(T0, WINDOW_MS, UNRESOLVED_MS)

    async def claim(s: Store, i: int) -> bool:
        try:
            await s.claims.claim_recipients(
                "acme", f"d{i}", f"s{i}", ["13800138000"], window, QuotaAsk(3, 50)
            )
        except QuotaExhausted:
            return False
        return True

    granted = await asyncio.gather(*(claim(s, i) for i, s in enumerate((a, b) * 20)))
    assert sum(granted) == 16
    assert await b.quotas.quota_used("acme") == 48


async def test_sqlite_writes_a_reservation_with_the_next_send_records(tmp_path: Path) -> None:
    """No statement a reservation, and no send answered 0 uncounted after a kill -9:
    the send log's write that carries the send's in-flight records carries its quota.
    (Redis reserves on the server, in the claims' script.)"""
    store = await SqliteStore.open(tmp_path / "state.sqlite3")

    def on_disk() -> int | None:
        # Another connection, as the next daemon after a kill -9 would read the file.
        with sqlite3.connect(store.path) as db:
            row = db.execute("SELECT used FROM quota_usage WHERE cpid = 'acme'").fetchone()
        return None if row is None else int(row[0])

    assert await store.quotas.reserve_quota("acme", 5, 100)
    assert on_disk() is None  # in memory only: no write of its own
    await store.sends.record_sends([record("13800138000", outcome=RecordState.IN_FLIGHT)])
    assert on_disk() == 5
    await store.quotas.release_quota("acme", 2)
    assert on_disk() == 5
    await store.sends.record_sends([], [])
    assert on_disk() == 3
    await store.quotas.release_quota("acme", 1)
    await store.close()  # what no write carried yet
    assert on_disk() == 2
