"""A Redis that does not answer, or is gone, is the store busy: the caller can tell.

Errors are translated once, where the store meets redis-py: a call Redis did
not answer in ``SOCKET_TIMEOUT_S``, or could not be sent, raises
:class:`~core.busy.StoreBusy`, which the legacy port answers ``-15`` before
any vendor has the message (redis-py's own TimeoutError and ConnectionError
were answered ``-110``: "call your account manager").
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.busy import StoreBusy
from proxy.store.claims import ClaimWindow
from proxy.store.redis import connect as redis_connect
from proxy.store.redis.store import RedisStore
from tests.redis_server import start_redis_server, writes_paused


async def test_a_call_redis_does_not_answer_or_cannot_reach_it_is_the_store_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_redis_server(tmp_path)
    monkeypatch.setattr(redis_connect, "SOCKET_TIMEOUT_S", 0.3)
    store = await RedisStore.open(server.url, prefix="t:")

    async def claim(phone: str) -> object:
        window = ClaimWindow(int(time.time() * 1000), 60_000, 60_000)
        return await store.claims.claim_recipients("acme", "d", f"s{phone}", [phone], window)

    try:
        assert await claim("13900000001") == []
        async with writes_paused(server.url, 1500):
            with pytest.raises(StoreBusy):
                await claim("13900000002")
        server.stop()
        with pytest.raises(StoreBusy):
            await claim("13900000003")
    finally:
        await store.close()
        server.stop()
