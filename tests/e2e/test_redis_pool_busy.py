"""A burst of retries after a restart, against a small Redis pool: busy, never -110.

The daemon's Redis calls share one pool of connections; a call waits for a
free one for a bounded time.  When the retries of every client arrive at
once (a daemon restarted behind the balancer) while Redis is slow, those
waits run out: such a send was not sent, and is answered ``-15`` (busy,
as when the daemon's turns are all taken), not ``-110``.  The test makes
the pool small and its wait short, and Redis slow (``CLIENT PAUSE`` of
writes, longer than the wait) while the retries arrive.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from adapters.simulator import SimulatorServer
from proxy.store.redis import connect as redis_connect
from tests.conftest import CPID, PASSWORD, DaemonFactory, redis_config
from tests.e2e.legacy_client import LegacyClient
from tests.redis_server import RedisServer, writes_paused

RETRIES = 60
TEXT = "【ACME】您的验证码是 {}"


async def test_retries_after_a_restart_against_a_small_pool_are_never_answered_110(
    tmp_path: Path,
    redis_server: RedisServer,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = redis_config(tmp_path, redis_server.url, f"pool-{uuid.uuid4().hex[:8]}:", esms100)
    phones = [f"139{i:08d}" for i in range(RETRIES)]
    first = await start_daemon(config)
    client = LegacyClient(first.legacy_url, CPID, PASSWORD)
    assert (
        await asyncio.gather(*(client.send(p, TEXT.format(p)) for p in phones)) == [b"0"] * RETRIES
    )
    await first.stop()

    # The restarted daemon's pool: small, and its wait short.
    monkeypatch.setattr(redis_connect, "MAX_CONNECTIONS", 4)
    monkeypatch.setattr(redis_connect, "POOL_WAIT_S", 0.3)
    restarted = await start_daemon(config)
    client = LegacyClient(restarted.legacy_url, CPID, PASSWORD)
    # Writes (every claim script) wait 1 s: far past the pool's wait.
    async with writes_paused(redis_server.url, 1000):
        answers = await asyncio.gather(*(client.send(p, TEXT.format(p)) for p in phones))
    assert b"-110" not in answers, answers
    assert set(answers) <= {b"0", b"-15"}, answers
    assert b"-15" in answers  # the pool did run out: the test tested something
    # Busy, they were not sent; again (one at a time: the pool is small), each
    # is found sent before.
    again = [await client.send(p, TEXT.format(p)) for p in phones]
    assert again == [b"0"] * RETRIES
    assert sorted(esms100.simulator.phones_of()) == phones
