"""A retry that reaches a second daemon while the first is still sending it.

Two daemon processes on one private Redis, as behind a load balancer: the
client's first try is in flight at a slow vendor through daemon A when its
retry reaches daemon B.  B must neither send it again nor answer 0 before a
vendor has it; once A's accepted outcome is written, a retry through B is
answered 0.
The vendor simulator's own books say what went out.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from core.outcome import Outcome
from tests.e2e.daemon_process import DaemonProcess, write_config
from tests.e2e.legacy_client import LegacyClient
from tests.redis_server import RedisServer

CPID, PASSWORD = "acme", "acme-pass"
TEXT = "【ACME】您的验证码是 802345"
TO = "13800138000"


@pytest.fixture
async def vendor() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(Esms100Simulator(cpid="vendor-acct", password="vendor-pw")) as s:
        yield s


async def start(
    tmp_path: Path, name: str, redis: RedisServer, prefix: str, vendor: SimulatorServer
) -> DaemonProcess:
    home = tmp_path / name
    home.mkdir()
    config = home / "smsproxy.toml"
    write_config(
        config,
        {
            "listen": {"legacy": "127.0.0.1:0", "admin": "127.0.0.1:0", "push": "127.0.0.1:0"},
            "state": {"engine": "redis", "redis_url": redis.url, "redis_prefix": prefix},
            "routing": {"send_deadline_s": 5.0},
        },
        {
            "clients": [{"cpid": CPID, "password": PASSWORD, "rate_per_s": 100}],
            "vendors": [
                {
                    "kind": "esms100",
                    "name": "esms100",
                    "base_url": vendor.url,
                    "price_per_segment": 0.05,
                    "timeout_s": 4.0,
                    **vendor.simulator.credentials(),
                }
            ],
        },
    )
    daemon = DaemonProcess(config, home)
    await daemon.start()
    return daemon


async def test_a_retry_at_another_daemon_while_the_first_is_in_flight(
    tmp_path: Path, redis_server: RedisServer, vendor: SimulatorServer
) -> None:
    prefix = f"retry-{uuid.uuid4().hex[:8]}:"
    a = await start(tmp_path, "a", redis_server, prefix, vendor)
    b = await start(tmp_path, "b", redis_server, prefix, vendor)
    try:
        via_a = LegacyClient(a.listening["legacy"], CPID, PASSWORD)
        via_b = LegacyClient(b.listening["legacy"], CPID, PASSWORD)
        vendor.simulator.faults.latency_s = 1.5
        first = asyncio.ensure_future(via_a.send(TO, TEXT))
        # A's request is at the vendor (its record in flight) and answers in 1.5 s.
        for _ in range(100):
            if await claim_state(redis_server, prefix, TO) == "f":
                break
            await asyncio.sleep(0.01)
        assert await claim_state(redis_server, prefix, TO) == "f"
        assert not first.done()
        # In flight elsewhere: not sent again, and not 0 (no vendor has said yes).
        assert await via_b.send(TO, TEXT) == b"-17"
        assert await first == b"0"
        vendor.simulator.faults.latency_s = 0.0
        # A answers before its outcome is written (a few ms later, with the
        # group commit); until then the claim is in flight and a retry
        # through B is answered -17, which CI once caught.  Once written: 0.
        for _ in range(100):
            if await claim_state(redis_server, prefix, TO) == "a":
                break
            await asyncio.sleep(0.02)
        assert await claim_state(redis_server, prefix, TO) == "a"
        assert await via_b.send(TO, TEXT) == b"0"
        assert await via_a.send(TO, TEXT) == b"0"
        assert vendor.simulator.phones_of(TEXT) == [TO]
    finally:
        await a.stop()
        await b.stop()


async def test_a_send_no_vendor_took_leaves_no_claim_and_one_taken_keeps_it(
    tmp_path: Path, redis_server: RedisServer, vendor: SimulatorServer
) -> None:
    # A's send releases only the claims no vendor has (the release is skipped
    # for the others): a refused number is sent again by a retry through B at
    # once, an accepted one is not.
    prefix = f"retry-{uuid.uuid4().hex[:8]}:"
    a = await start(tmp_path, "a", redis_server, prefix, vendor)
    b = await start(tmp_path, "b", redis_server, prefix, vendor)
    other = "13900139000"
    try:
        via_a = LegacyClient(a.listening["legacy"], CPID, PASSWORD)
        via_b = LegacyClient(b.listening["legacy"], CPID, PASSWORD)
        vendor.simulator.faults.forced_outcome = Outcome.REQUEST_INVALID
        assert await via_a.send(TO, TEXT) != b"0"
        vendor.simulator.faults.forced_outcome = None
        assert await via_a.send(other, TEXT) == b"0"
        # The release runs once the outcome is written, after the answer.
        for _ in range(100):
            if (
                await claim_state(redis_server, prefix, TO) is None
                and await claim_state(redis_server, prefix, other) == "a"
            ):
                break
            await asyncio.sleep(0.02)
        assert await claim_state(redis_server, prefix, TO) is None
        assert await claim_state(redis_server, prefix, other) == "a"
        assert await via_b.send(TO, TEXT) == b"0"
        assert await via_b.send(other, TEXT) == b"0"
        assert sorted(vendor.simulator.phones_of(TEXT)) == [TO, other]
    finally:
        await a.stop()
        await b.stop()


async def claim_state(server: RedisServer, prefix: str, phone: str) -> str | None:
    """The state of the one claim of ``phone`` under ``prefix`` (``a``: accepted), or None."""
    async with Redis.from_url(server.url, decode_responses=True) as client:
        keys = [k async for k in client.scan_iter(f"{prefix}claim:*:{phone}:{CPID}")]
        assert len(keys) <= 1, keys
        value = await client.get(keys[0]) if keys else None
    return None if value is None else str(value).split("|", 1)[0]
