"""The leases' part of the store contract."""

from __future__ import annotations

import asyncio

from proxy.store.base import Store


async def test_a_lease_has_one_holder_until_it_expires(two: tuple[Store, Store]) -> None:
    a, b = two
    ttl = 2000  # ms; held 0.3 s in even on a slow machine, gone 2.2 s in
    assert await a.leases.acquire_lease("poll:v1:reports", "daemon-a", ttl)
    assert not await b.leases.acquire_lease("poll:v1:reports", "daemon-b", ttl)
    assert await b.leases.acquire_lease("poll:v2:reports", "daemon-b", ttl)  # one per name
    assert await a.leases.acquire_lease("poll:v1:reports", "daemon-a", ttl)  # renewed
    await asyncio.sleep(0.3)
    assert not await b.leases.acquire_lease("poll:v1:reports", "daemon-b", ttl)
    await asyncio.sleep(1.9)  # past the renewed lease: the holder went away
    assert await b.leases.acquire_lease("poll:v1:reports", "daemon-b", ttl)
    assert not await a.leases.acquire_lease("poll:v1:reports", "daemon-a", ttl)
    pairs = ((a, "a"), (b, "b")) * 5
    held = await asyncio.gather(*(s.leases.acquire_lease("x", name, 10_000) for s, name in pairs))
    assert held in ([True, False] * 5, [False, True] * 5)  # one holder, however they race
