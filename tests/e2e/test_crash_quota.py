"""kill -9 under load with a client quota: every send answered 0 is counted, once (issue 16).

The quota is held in memory and written with the send records' group commit
(SQLite), or reserved on the server in the claims' script (Redis): either
way a send's reservation is durable no later than its in-flight records, so
no send a client heard ``0`` for is forgotten by a restart, and a resend
that finds its first try already taken reserves nothing again.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest

from proxy.store.base import Store
from proxy.store.redis.store import RedisStore
from proxy.store.sqlite.store import SqliteStore
from tests.e2e.crash_load import CPID, CrashLoad, LoadClient, Rig, drive, new_messages
from tests.redis_server import RedisServer


@pytest.mark.parametrize("engine", ["sqlite", "redis"])
async def test_the_quota_counts_each_send_answered_0_across_kill_9(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    load = CrashLoad(rate_per_s=100, duration_s=8, kills=3, settle_s=5, latency_s=0.1)
    state: dict[str, object] = {"path": str(tmp_path / "state.sqlite3")}
    prefix = f"quota-{uuid.uuid4().hex[:8]}:"
    if engine == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        state = {"engine": "redis", "redis_url": server.url, "redis_prefix": prefix}
    rig = Rig(tmp_path, load, state=state, quota=1_000_000)
    try:
        daemon = await rig.start()
        client = LoadClient(rig.legacy_url, load, random.Random(load.seed + 1))
        messages = new_messages(load)
        kills = await drive(daemon, client, messages)
        await daemon.stop()
    finally:
        await rig.stop()

    store: Store = (
        await RedisStore.open(server.url, prefix)
        if engine == "redis"
        else await SqliteStore.open(tmp_path / "state.sqlite3")
    )
    try:
        used = await store.quotas.quota_used(CPID)
    finally:
        await store.close()
    answered = sum(m.zero for m in messages)
    held = {entry for book in rig.books().values() for entry in book}
    in_flight = sum(k.outstanding for k in kills)
    summary = (
        f"{engine}: quota used {used}; {len(messages)} messages, {answered} answered 0, "
        f"{len(held)} held by vendors; kills with {[k.outstanding for k in kills]} in flight"
    )
    assert len(kills) == load.kills and in_flight > 0, summary
    assert answered >= 0.8 * len(messages), summary
    # Each message is one segment: every one answered 0 is counted ...
    assert used >= answered, summary
    # ... once: beyond what the vendors hold, only sends a kill caught in flight.
    assert used <= len(held) + in_flight, summary
