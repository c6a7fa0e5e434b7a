"""What /qamount/ answers a legacy client, through the daemon and the simulators over real sockets.

Many legacy systems stop sending when /qamount/ answers 0, or check it
before a batch: it must not be 0 while a vendor takes sends, must fall as
segments go out, and must count c123's money at c123's own price.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adapters.c123.simulator import C123Simulator
from adapters.simulator import SimulatorServer
from adapters.sms10000.simulator import Sms10000Simulator
from proxy.serve import Daemon
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config, esms100_vendor
from tests.e2e.test_legacy_send import call

CPPWD = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
AUTH = f"cpid={CPID}&cppwd={CPPWD}"
TWO_SEGMENTS = "【ACME】" + "活动通知" * 20  # 86 characters: two parts of 67


@pytest.fixture
async def sms10000() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(Sms10000Simulator()) as s:
        yield s


def vendor(server: SimulatorServer, price: float, **extra: Any) -> dict[str, Any]:
    sim = server.simulator
    return {
        "kind": sim.kind,
        "name": sim.kind,
        "base_url": server.url,
        "price_per_segment": price,
        "timeout_s": 1.0,
        "connect_timeout_s": 0.5,
        **sim.credentials(),
        **extra,
    }


async def qamount(daemon: Daemon) -> int:
    status, body = await call(daemon, "/qamount/", AUTH)
    assert status == 200
    return int(body)


async def qamount_becomes(daemon: Daemon, expected: int, within_s: float) -> int:
    """The answer once it is ``expected``, or the last one when ``within_s`` ran out."""
    give_up = time.monotonic() + within_s
    while True:
        got = await qamount(daemon)
        if got == expected or time.monotonic() >= give_up:
            return got
        await asyncio.sleep(0.05)


async def send(daemon: Daemon, phones: list[str], text: str) -> bytes:
    query = f"{AUTH}&phone={','.join(phones)}&msgtext={quote(text)}&encode=utf8"
    return (await call(daemon, "/mt/", query))[1]


async def test_sms10000_alone_is_never_0_while_it_takes_sends(
    start_daemon: DaemonFactory, sms10000: SimulatorServer, tmp_path: Path
) -> None:
    daemon = await start_daemon(base_config(tmp_path, vendors=[vendor(sms10000, 0.04)]))
    assert await qamount(daemon) == 10_000
    for n in range(3):
        assert await send(daemon, [f"1380013800{n}"], f"验证码 {n}") == b"0"
        assert await qamount(daemon) == 10_000
    assert len(sms10000.simulator.accepted) == 3


async def test_sms10000_beside_an_empty_vendor_is_not_0(
    start_daemon: DaemonFactory,
    sms10000: SimulatorServer,
    esms100: SimulatorServer,
    tmp_path: Path,
) -> None:
    esms100.simulator.faults.balance = 0
    vendors = [esms100_vendor(esms100, price_per_segment=0.03), vendor(sms10000, 0.04)]
    daemon = await start_daemon(base_config(tmp_path, vendors=vendors))
    esms100_health = daemon.engine.router.vendors["esms100"].health
    for _ in range(100):  # esms100's first balance check
        if esms100_health.balance_segments is not None:
            break
        await asyncio.sleep(0.02)
    assert esms100_health.balance_segments == 0
    assert await qamount(daemon) == 10_000
    assert await send(daemon, ["13800138000"], "hi") == b"0"
    assert sms10000.simulator.phones_of("hi") == ["13800138000"]


async def test_a_quota_larger_than_the_vendors_balances_answers_the_balances(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    esms100.simulator.faults.balance = 20
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    config["clients"][0]["quota"] = 50
    daemon = await start_daemon(config)
    assert await qamount_becomes(daemon, 20, within_s=5.0) == 20
    assert await send(daemon, ["13800138000", "13900139000"], TWO_SEGMENTS) == b"0"
    assert await qamount(daemon) == 16


async def test_the_floor_for_unknown_balances_is_configurable(
    start_daemon: DaemonFactory, sms10000: SimulatorServer, tmp_path: Path
) -> None:
    config = base_config(tmp_path, vendors=[vendor(sms10000, 0.04)])
    config["legacy"] = {"unknown_balance_segments": 3000}
    daemon = await start_daemon(config)
    assert await qamount(daemon) == 3000


async def test_segments_sent_are_taken_off_before_the_next_balance_check(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    esms100.simulator.faults.balance = 1000
    daemon = await start_daemon(base_config(tmp_path, vendors=[esms100_vendor(esms100)]))
    assert await qamount_becomes(daemon, 1000, within_s=5.0) == 1000  # the first check
    phones = [f"1380013800{n}" for n in range(6)]
    assert await send(daemon, phones, TWO_SEGMENTS) == b"0"  # 6 x 2 = 12 segments
    # esms100 is asked once a minute: this is our own count, not a new check.
    assert await qamount(daemon) == 988
    assert await send(daemon, ["13900139000"], "hi") == b"0"
    assert await qamount(daemon) == 987


async def test_a_vendor_that_ran_dry_by_our_count_stays_at_0_not_below(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    esms100.simulator.faults.balance = 3
    daemon = await start_daemon(base_config(tmp_path, vendors=[esms100_vendor(esms100)]))
    assert await qamount_becomes(daemon, 3, within_s=5.0) == 3
    assert await send(daemon, ["13800138000"], TWO_SEGMENTS) == b"0"
    assert await qamount(daemon) == 1
    assert await send(daemon, ["13900139000"], TWO_SEGMENTS) == b"-10"
    assert await qamount(daemon) == 0


async def test_c123_money_is_counted_at_c123s_own_price(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    async with SimulatorServer(C123Simulator(price=0.10)) as c123:
        c123.simulator.faults.balance = 1000  # 100.000 yuan at c123's 0.10 a segment
        # Our price is not c123's: 100 yuan at 0.032 would be 3,125 segments.
        daemon = await start_daemon(base_config(tmp_path, vendors=[vendor(c123, 0.032)]))
        # getBalance carries no price: until c123 has answered a send, ours is all we have.
        assert await qamount_becomes(daemon, 3125, within_s=5.0) == 3125
        assert await send(daemon, ["13800138000"], "hi") == b"0"  # its answer: price="0.10"
        assert await qamount(daemon) == 3124
        # c123 is asked every 10 s: the next check counts 99.900 yuan at 0.10.
        assert await qamount_becomes(daemon, 999, within_s=15.0) == 999
