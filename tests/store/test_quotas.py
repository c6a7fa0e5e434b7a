"""The quotas' part of the store contract."""

from __future__ import annotations

import asyncio

from proxy.store.base import Store


async def test_quota(store: Store) -> None:
    assert await store.quotas.reserve_quota("acme", 3, 5)
    assert not await store.quotas.reserve_quota("acme", 3, 5)
    assert await store.quotas.quota_used("acme") == 3
    await store.quotas.release_quota("acme", 10)
    assert await store.quotas.quota_used("acme") == 0


async def test_concurrent_reservations_never_pass_the_quota(two: tuple[Store, Store]) -> None:
    a, b = two
    granted = await asyncio.gather(*(s.quotas.reserve_quota("acme", 3, 50) for s in (a, b) * 20))
    assert sum(granted) == 16
    assert await b.quotas.quota_used("acme") == 48
