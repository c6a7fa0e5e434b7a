"""Redis that does not answer, or is gone: a send is answered busy (-15), never -110.

Before any vendor has the message, a store that cannot be reached is the
store being busy, as when the pool's connections are all taken
(test_redis_pool_busy.py): nothing was sent, and the legacy client tries
again.  ``-110`` ("系统错误，请联系业务员", call your account manager) tells
it the message failed for good.  Each resend once Redis is back is sent,
and sent once.  Here the client's rate check, the request's first call to
Redis, is the one that finds it gone; a call failing later in the send (the
claim, the record of the attempt) is the store busy all the same
(tests/store/test_redis_unanswered.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import pytest

from adapters.esms100.wire import password_digest
from adapters.simulator import SimulatorServer
from proxy.store.redis import connect as redis_connect
from tests.conftest import CPID, PASSWORD, DaemonFactory, redis_config
from tests.e2e.legacy_client import LegacyClient
from tests.redis_server import start_redis_server, writes_paused

TEXT = "【ACME】您的验证码是 {}"


async def test_a_send_redis_does_not_answer_or_cannot_be_reached_is_answered_busy(
    tmp_path: Path,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redis_server = start_redis_server(tmp_path)
    # A script waits this long for its answer (5 s as shipped).
    monkeypatch.setattr(redis_connect, "SOCKET_TIMEOUT_S", 0.3)
    config = redis_config(tmp_path, redis_server.url, f"gone-{uuid.uuid4().hex[:8]}:", esms100)
    try:
        daemon = await start_daemon(config)
        client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await client.send("13900000001", TEXT.format(1)) == b"0"

        # Writes (the claim) wait 1.5 s: past the script's time-out.
        async with writes_paused(redis_server.url, 1500):
            unanswered = await client.send("13900000002", TEXT.format(2))
        assert unanswered == b"-15"
        assert await client.send("13900000002", TEXT.format(2)) == b"0"

        redis_server.stop()
        gone = await client.send("13900000003", TEXT.format(3))
        assert gone == b"-15"
        redis_server = start_redis_server(tmp_path, redis_server.port)
        assert await client.send("13900000003", TEXT.format(3)) == b"0"
    finally:
        redis_server.stop()
    assert sorted(esms100.simulator.phones_of()) == ["13900000001", "13900000002", "13900000003"]


async def test_a_new_password_redis_does_not_answer_is_not_answered_refused(
    tmp_path: Path,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/ent/ answers only 0 and -1; -1 says the old password stands.  A new
    password Redis took without answering may have been made: the daemon sets
    it once more, and answers -110 only when that goes unanswered too."""
    redis_server = start_redis_server(tmp_path)
    monkeypatch.setattr(redis_connect, "SOCKET_TIMEOUT_S", 0.3)
    config = redis_config(tmp_path, redis_server.url, "ent:", esms100)
    try:
        daemon = await start_daemon(config)

        async def ent(old: str, new: str, paused_ms: int) -> bytes:
            query = f"cpid={CPID}&oldpwd={password_digest(old)}&newpwd={new}"
            async with (
                writes_paused(redis_server.url, paused_ms),
                aiohttp.ClientSession() as session,
                session.get(f"{daemon.legacy_url}/ent/?{query}") as resp,
            ):
                return await resp.read()

        # Writes wait past two time-outs: made or not, the daemon cannot say.
        assert await ent(PASSWORD, "second-pass", 1500) == b"-110"
        # Here it was not made (a paused client's command goes with its
        # connection), and the daemon did not take it as made.
        old = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await old.send("13900000004", TEXT.format(4)) == b"0"
        # Past one time-out only: set again, and answered.
        assert await ent(PASSWORD, "third-pass", 450) == b"0"
        new = LegacyClient(daemon.legacy_url, CPID, "third-pass")
        assert await new.send("13900000005", TEXT.format(5)) == b"0"
    finally:
        redis_server.stop()
