"""Replicas behind after a failover: a send is answered busy, never -110.

With ``state.redis_min_replicas_acked`` a send's claim waits for replicas;
when they lag (a Redis failover has just promoted one, the others still
syncing) the claim is not acknowledged and nothing is sent.  That is the
store being busy (``-15``: the client tries again), as when the pool's
connections are all taken; in the HAProxy + Sentinel test it was answered
``-110`` with a traceback, 655 times in one run.  Here the daemon's Redis
client waits for one replica of a server that has none.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from core.busy import StoreBusy
from core.outcome import Outcome
from proxy.serve import Daemon
from proxy.store.redis import store as redis_store
from proxy.store.redis.claims import CLAIM_RECIPIENTS
from proxy.store.redis.connect import FailoverRedis
from routing.router import Router
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config, esms100_vendor
from tests.e2e.legacy_client import LegacyClient
from tests.redis_server import RedisServer


def waiting_for_a_replica(url: str) -> FailoverRedis:
    client = FailoverRedis.from_url(url, decode_responses=True)
    client.min_replicas, client.replica_timeout_ms = 1, 50
    return client


def behind_config(
    tmp_path: Path, redis_server: RedisServer, esms100: SimulatorServer
) -> dict[str, Any]:
    """A daemon on Redis (under a prefix of its own) sending to the esms100 simulator."""
    return base_config(
        tmp_path,
        state={
            "engine": "redis",
            "redis_url": redis_server.url,
            "redis_prefix": f"behind-{uuid.uuid4().hex[:8]}:",
        },
        vendors=[esms100_vendor(esms100)],
    )


async def test_a_claim_no_replica_acknowledged_is_answered_busy(
    tmp_path: Path,
    redis_server: RedisServer,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_store, "one_server", waiting_for_a_replica)
    daemon = await start_daemon(behind_config(tmp_path, redis_server, esms100))
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    assert await client.send("13900000001", "【ACME】您的验证码是 1") == b"-15"
    assert esms100.simulator.phones_of() == []


async def test_a_send_record_no_replica_acknowledged_is_answered_busy(
    tmp_path: Path,
    redis_server: RedisServer,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without de-duplication a send claims nothing: its first write is its
    # record, in flight, before the request leaves.  Unacknowledged, nothing is
    # sent and the client is told to try again; the HAProxy + Sentinel test saw
    # -110 (a system error, "call your account manager") 15 times in one run.
    monkeypatch.setattr(redis_store, "one_server", waiting_for_a_replica)
    config = behind_config(tmp_path, redis_server, esms100)
    config["routing"]["dedup_window_s"] = 0
    config["clients"][0]["quota"] = 10
    daemon = await start_daemon(config)
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    assert await client.send("13900000002", "【ACME】您的验证码是 2") == b"-15"
    assert esms100.simulator.phones_of() == []
    # Reserved on the master, not acknowledged, and given back.
    assert await daemon.state.store.quotas.quota_used(CPID) == 0


async def busy_then_caught_up(
    config: dict[str, Any],
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
    phone: str,
    text: str,
    unwaited: frozenset[str] = frozenset(),
) -> None:
    """A send refused -15 while the replicas lag (but for the ``unwaited`` scripts),
    then the client's retry once they caught up: sent once, counted once."""
    clients: list[FailoverRedis] = []

    def recorded(url: str) -> FailoverRedis:
        client = waiting_for_a_replica(url)
        client.unwaited = unwaited
        clients.append(client)
        return client

    monkeypatch.setattr(redis_store, "one_server", recorded)
    config["clients"][0]["quota"] = 10
    daemon = await start_daemon(config)
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    assert await client.send(phone, text) == b"-15"
    quotas = daemon.state.store.quotas
    assert await quotas.quota_used(CPID) == 0
    for redis in clients:
        redis.min_replicas = 0  # the replicas caught up
    assert await client.send(phone, text) == b"0"
    assert esms100.simulator.phones_of() == [phone]
    assert await quotas.quota_used(CPID) == 1


async def test_a_retry_after_a_busy_claim_is_sent_once_and_counted_once(
    tmp_path: Path,
    redis_server: RedisServer,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The refused claim ran on the master.  Left there, the client's retry once
    # the replicas caught up read the number as unresolved (-17, nothing sent)
    # until the claim went stale, and the quota stayed spent: 104 messages of
    # the HAProxy + Sentinel test ended on -17 that way.
    config = behind_config(tmp_path, redis_server, esms100)
    await busy_then_caught_up(
        config, esms100, start_daemon, monkeypatch, "13900000003", "【ACME】您的订单已发货"
    )


async def test_a_retry_after_a_busy_send_record_is_sent_once_and_counted_once(
    tmp_path: Path,
    redis_server: RedisServer,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The claim is acknowledged, the record of the attempt is not: the master
    # holds the record in flight and the claim with it.  Left so, the retry
    # read the number as unresolved (-17) for routing.unresolved_expire_s
    # although nothing was sent.
    claim_script = hashlib.sha1(CLAIM_RECIPIENTS.encode()).hexdigest()
    config = behind_config(tmp_path, redis_server, esms100)
    await busy_then_caught_up(
        config,
        esms100,
        start_daemon,
        monkeypatch,
        "13900000004",
        "【ACME】您的订单已签收",
        unwaited=frozenset({claim_script}),
    )


UNICOM, MOBILE = "13012345678", "13800138000"


@asynccontextmanager
async def split_send(
    config: dict[str, Any], start_daemon: DaemonFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Daemon, LegacyClient, SimulatorServer, Callable[[], None]]]:
    """Rules split a send in two groups: unicom numbers to a vendor "slow" (its
    faults set by the test), the rest to esms100.  The mobile group's route is
    refused busy until the test calls the function yielded last."""
    async with SimulatorServer(Esms100Simulator(cpid="slow-acct", password="slow-pw")) as slow:
        config["vendors"].append(esms100_vendor(slow, name="slow"))
        config["rules"] = [
            {"name": "unicom", "match": {"carriers": ["unicom"]}, "vendors": ["slow"]},
            {"name": "rest", "vendors": ["esms100"]},
        ]
        daemon = await start_daemon(config)
        real_route = Router.route

        async def busy_for_mobile(self: Any, phones: Any, *args: Any) -> Any:
            if MOBILE in phones:
                raise StoreBusy("the store's replicas lag")
            return await real_route(self, phones, *args)

        monkeypatch.setattr(Router, "route", busy_for_mobile)
        client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        yield daemon, client, slow, lambda: monkeypatch.setattr(Router, "route", real_route)


async def test_a_busy_group_waits_for_the_others_before_the_send_lets_go(
    tmp_path: Path,
    redis_server: RedisServer,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rules split a send in two groups; one is refused busy while the other is
    # still at its (slow) vendor.  The send used to end at the first failure
    # and release the other group's claims under it: the vendor got the
    # message, and the client's retry (told -15) sent it again.
    config = behind_config(tmp_path, redis_server, esms100)
    text = "【ACME】您的包裹已到"
    async with split_send(config, start_daemon, monkeypatch) as (_, client, slow, stop_busy):
        slow.simulator.faults.latency_s = 0.5
        assert await client.send(f"{UNICOM},{MOBILE}", text) == b"-15"
        stop_busy()
        assert slow.simulator.phones_of() == [UNICOM]  # answered after its vendor took it
        assert await client.send(f"{UNICOM},{MOBILE}", text) == b"0"
        assert slow.simulator.phones_of() == [UNICOM]
        assert esms100.simulator.phones_of() == [MOBILE]


async def test_a_number_refused_in_a_busy_send_is_free_for_the_retry(
    tmp_path: Path,
    redis_server: RedisServer,
    esms100: SimulatorServer,
    start_daemon: DaemonFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One group's vendor refused its number (not sent), the other group was
    # refused busy.  The send's release ran before the refusal was written,
    # found the claim still in flight and left it; written, it read claimed,
    # and the retry after -15 was answered -17 until the claim went stale.
    config = behind_config(tmp_path, redis_server, esms100)
    text = "【ACME】您的包裹已签收"
    async with split_send(config, start_daemon, monkeypatch) as (daemon, client, slow, stop_busy):
        slow.simulator.faults.latency_s = 0.2
        slow.simulator.faults.forced_outcome = Outcome.CONTENT_REJECTED
        # A slow store: the refusal's write is still on its way when the send
        # ends (under load, the recorder's previous group commit holds it).
        sends = daemon.state.store.sends
        record_sends = sends.record_sends

        async def slow_settlements(records: Any, settlements: Any = ()) -> int:
            if settlements:
                await asyncio.sleep(0.2)
            return await record_sends(records, settlements)

        monkeypatch.setattr(sends, "record_sends", slow_settlements)
        assert await client.send(f"{UNICOM},{MOBILE}", text) == b"-15"
        stop_busy()
        slow.simulator.faults.forced_outcome = None
        assert await client.send(f"{UNICOM},{MOBILE}", text) == b"0"
        assert slow.simulator.phones_of() == [UNICOM]
        assert esms100.simulator.phones_of() == [MOBILE]
