"""A vendor's rate as the vendor counts it: never "too fast", one daemon or two.

The esms100 simulator here allows ``rate_limit_per_s`` sends in any one
second (sliding, as esms100.txt counts) and answers the next "too fast"
(-15); the daemons are configured with that vendor ``rate_per_s`` and get
more sends a second than it for a few seconds.  The vendor's own count of
"too fast" answers must stay zero, and the vendor must still get close to
its rate (a limiter that sends nothing would pass the first check alone).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from tests.e2e.daemon_process import DaemonProcess, write_config
from tests.e2e.legacy_client import LegacyClient
from tests.redis_server import RedisServer

CPID, PASSWORD = "acme", "acme-pass"


@pytest.fixture
async def vendor() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(Esms100Simulator(cpid="vendor-acct", password="vendor-pw")) as s:
        yield s


async def start(
    home: Path, vendor: SimulatorServer, rate_per_s: float, state: dict[str, Any]
) -> DaemonProcess:
    home.mkdir()  # noqa: ASYNC240 - a test's own directory, before anything runs
    config = home / "smsproxy.toml"
    write_config(
        config,
        {
            "listen": {"legacy": "127.0.0.1:0", "admin": "127.0.0.1:0", "push": "127.0.0.1:0"},
            "state": state,
        },
        {
            "clients": [{"cpid": CPID, "password": PASSWORD, "rate_per_s": 1000}],
            "vendors": [
                {
                    "kind": "esms100",
                    "name": "esms100",
                    "base_url": vendor.url,
                    "price_per_segment": 0.05,
                    "rate_per_s": rate_per_s,
                    **vendor.simulator.credentials(),
                }
            ],
        },
    )
    daemon = DaemonProcess(config, home)
    await daemon.start()
    return daemon


async def load(clients: list[LegacyClient], per_s: float, duration_s: float) -> list[bytes]:
    """``per_s`` sends a second, each to its own number, spread over ``clients``."""
    run = uuid.uuid4().hex[:6]
    started = time.monotonic()

    async def one(i: int) -> bytes:
        await asyncio.sleep(max(0.0, started + i / per_s - time.monotonic()))
        return await clients[i % len(clients)].send(f"139{i:08d}", f"【ACME】{run} 验证码 {i}")

    return list(await asyncio.gather(*(one(i) for i in range(int(per_s * duration_s)))))


async def test_one_daemon_never_sends_a_vendor_more_than_its_rate_in_any_second(
    tmp_path: Path, vendor: SimulatorServer
) -> None:
    vendor.simulator.faults.rate_limit_per_s = 20
    daemon = await start(tmp_path / "a", vendor, 20, {"path": str(tmp_path / "state.sqlite3")})
    try:
        client = LegacyClient(daemon.listening["legacy"], CPID, PASSWORD)
        started = time.monotonic()
        answers = await load([client], per_s=35, duration_s=4.0)
        took = time.monotonic() - started
    finally:
        await daemon.stop()
    sim = vendor.simulator
    assert sim.too_fast == 0, f"{sim.too_fast} sends answered too fast"
    accepted = answers.count(b"0")
    assert accepted == len(sim.accepted)
    # Near the rate for the whole run (the last sends wait up to 2 s for a slot).
    assert accepted >= 0.8 * 20 * took - 20, (accepted, took)
    assert set(answers) <= {b"0", b"-15"}  # the rest: every vendor asked us to slow down


async def test_two_daemons_on_one_redis_keep_together_to_the_vendor_rate(
    tmp_path: Path, vendor: SimulatorServer, redis_server: RedisServer
) -> None:
    vendor.simulator.faults.rate_limit_per_s = 8
    state = {
        "engine": "redis",
        "redis_url": redis_server.url,
        "redis_prefix": f"rate-{uuid.uuid4().hex[:8]}:",
    }
    a = await start(tmp_path / "a", vendor, 8, state)
    b = await start(tmp_path / "b", vendor, 8, state)
    try:
        clients = [LegacyClient(d.listening["legacy"], CPID, PASSWORD) for d in (a, b)]
        started = time.monotonic()
        answers = await load(clients, per_s=20, duration_s=4.0)
        took = time.monotonic() - started
    finally:
        await a.stop()
        await b.stop()
    sim = vendor.simulator
    assert sim.too_fast == 0, f"{sim.too_fast} sends answered too fast"
    accepted = answers.count(b"0")
    assert accepted == len(sim.accepted)
    assert accepted >= 0.8 * 8 * took - 8, (accepted, took)
    assert set(answers) <= {b"0", b"-15"}
