"""Failover through the daemon and the five simulators, over real sockets.

In every scenario the simulators' own records must show each valid recipient
accepted exactly once by exactly one vendor, or reported failed to the client,
and the cheapest healthy vendor carrying the traffic.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from adapters.simulator import Simulator, SimulatorServer
from adapters.simulators import VENDOR_KINDS
from proxy.serve import Daemon
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config

# Cheapest first: this is the order a healthy daemon must try them in.
PRICES = {"chuanglan": 0.030, "smscn": 0.035, "sms10000": 0.040, "esms100": 0.045, "c123": 0.050}
CPPWD = hashlib.md5(PASSWORD.encode()).hexdigest().upper()


class Fleet:
    def __init__(self, servers: dict[str, SimulatorServer]) -> None:
        self.servers = servers

    def __getitem__(self, kind: str) -> Simulator:
        return self.servers[kind].simulator

    def vendors(self, **per_vendor: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "kind": kind,
                "name": kind,
                "base_url": s.url,
                "price_per_segment": PRICES[kind],
                "timeout_s": 0.5,
                "connect_timeout_s": 0.5,
                **s.simulator.credentials(),
                **per_vendor.get(kind, {}),
            }
            for kind, s in self.servers.items()
        ]

    def accepted(self, text: str) -> dict[str, list[str]]:
        return {kind: self[kind].phones_of(text) for kind in self.servers}

    def assert_at_most_once(self, text: str, phones: list[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for got in self.accepted(text).values():
            counts.update(got)
        assert set(counts) <= set(phones)
        assert all(n == 1 for n in counts.values()), counts.most_common(3)
        return counts

    def assert_exactly_once(self, text: str, phones: list[str]) -> None:
        counts = self.assert_at_most_once(text, phones)
        assert set(counts) == set(phones)


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with AsyncExitStack() as stack:
        servers = {}
        for vk in VENDOR_KINDS:
            servers[vk.kind] = await stack.enter_async_context(SimulatorServer(vk.simulator()))
        yield Fleet(servers)


async def send(daemon: Daemon, phones: list[str], text: str) -> bytes:
    body = aiohttp.FormData(
        {
            "cpid": CPID,
            "cppwd": CPPWD,
            "phone": ",".join(phones),
            "msgtext": text,
            "encode": "utf8",
        },
        charset="utf-8",
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(URL(f"{daemon.legacy_url}/mt/"), data=body) as resp,
    ):
        assert resp.status == 200
        return await resp.read()


def phones(n: int, prefix: str = "139") -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(n)]


async def start(start_daemon: DaemonFactory, tmp_path: Path, fleet: Fleet, **config: Any) -> Daemon:
    per_vendor = config.pop("per_vendor", {})
    return await start_daemon(base_config(tmp_path, vendors=fleet.vendors(**per_vendor), **config))


async def test_healthy_traffic_goes_to_the_cheapest(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    daemon = await start(start_daemon, tmp_path, fleet)
    to = phones(20)
    assert await send(daemon, to, "【ACME】hello") == b"0"
    assert sorted(fleet["chuanglan"].phones_of("【ACME】hello")) == to
    fleet.assert_exactly_once("【ACME】hello", to)


async def test_balance_runs_out_in_the_middle_of_a_1000_number_send(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    fleet["chuanglan"].faults.balance = 450
    daemon = await start(
        start_daemon, tmp_path, fleet, per_vendor={"chuanglan": {"max_numbers": 100}}
    )
    to = phones(1000)
    assert await send(daemon, to, "【ACME】big") == b"0"
    fleet.assert_exactly_once("【ACME】big", to)
    got = fleet.accepted("【ACME】big")
    assert len(got["chuanglan"]) == 400  # four whole chunks of 100 fit in 450
    assert len(got["smscn"]) == 600  # the next cheapest took the rest
    assert "chuanglan=drained" in repr(daemon.engine.router)
    # the next send skips the drained vendor without asking it
    asked = fleet["chuanglan"].requests
    assert await send(daemon, phones(5, "137"), "【ACME】next") == b"0"
    assert fleet["chuanglan"].requests == asked
    assert len(fleet["smscn"].phones_of("【ACME】next")) == 5


@pytest.mark.parametrize(
    ("fault", "state"),
    [
        ({"forced_outcome": "rate_limited"}, "backed_off"),
        ({"allowed_ips": ["10.9.9.9"]}, "ejected"),
        ({"http_500": True}, "routable"),
    ],
    ids=["rate-limited", "ip-rejected", "http-500"],
)
async def test_cheapest_refuses_and_the_next_takes_it(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path, fault: dict[str, Any], state: str
) -> None:
    from core.outcome import Outcome

    for key, value in fault.items():
        setattr(
            fleet["chuanglan"].faults, key, Outcome(value) if key == "forced_outcome" else value
        )
    daemon = await start(start_daemon, tmp_path, fleet)
    to = phones(30)
    assert await send(daemon, to, "【ACME】x") == b"0"
    fleet.assert_exactly_once("【ACME】x", to)
    assert sorted(fleet["smscn"].phones_of("【ACME】x")) == to
    assert f"chuanglan={state}" in repr(daemon.engine.router)


async def test_a_vendor_that_hangs_is_not_resent_by_default(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    fleet["chuanglan"].faults.hang = True
    daemon = await start(start_daemon, tmp_path, fleet)
    to = phones(3)
    # The request left and no answer came: chuanglan may have sent it.
    assert await send(daemon, to, "【ACME】otp 1") == b"-17"
    assert fleet.accepted("【ACME】otp 1") == {k: [] for k in PRICES}
    # A client retry of the same text must not send it either (it may have
    # arrived), nor be told 0 (nobody confirmed it did).
    fleet["chuanglan"].faults.hang = False
    assert await send(daemon, to, "【ACME】otp 1") == b"-17"
    assert fleet.accepted("【ACME】otp 1") == {k: [] for k in PRICES}


@pytest.mark.parametrize("fault", ["hang", "garbage"])
@pytest.mark.parametrize("kind", list(PRICES))
async def test_no_clear_answer_from_any_vendor_is_never_resent_nor_answered_0(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path, kind: str, fault: str
) -> None:
    # Each vendor in turn the cheapest, answering nothing readable.
    cheapest = {kind: {"price_per_segment": 0.001}}
    daemon = await start(start_daemon, tmp_path, fleet, per_vendor=cheapest)
    setattr(fleet[kind].faults, fault, True)
    to, text = phones(2), f"【ACME】unclear {kind} {fault}"
    assert await send(daemon, to, text) == b"-17"
    setattr(fleet[kind].faults, fault, False)
    assert await send(daemon, to, text) == b"-17"
    assert await send(daemon, [*to, "13700137000"], text) == b"-17"
    # Only the number the retry added went out, once, to the (now answering) cheapest.
    assert fleet.accepted(text) == {k: ["13700137000"] if k == kind else [] for k in PRICES}


async def test_at_least_once_rule_resends_after_no_answer(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    fleet["chuanglan"].faults.hang = True
    rules = [{"name": "otp", "vendors": list(PRICES), "ambiguous": "at_least_once"}]
    daemon = await start(start_daemon, tmp_path, fleet, rules=rules)
    to = phones(3)
    assert await send(daemon, to, "【ACME】otp 2") == b"0"
    assert sorted(fleet["smscn"].phones_of("【ACME】otp 2")) == to


async def test_garbage_answer_is_ambiguous_and_not_resent(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    fleet["chuanglan"].faults.garbage = True
    daemon = await start(start_daemon, tmp_path, fleet)
    to = phones(4)
    assert await send(daemon, to, "【ACME】g") == b"-17"
    fleet.assert_at_most_once("【ACME】g", to)
    assert fleet.accepted("【ACME】g")["smscn"] == []
    fleet["chuanglan"].faults.garbage = False
    assert await send(daemon, to, "【ACME】g") == b"-17"
    assert fleet.accepted("【ACME】g") == {k: [] for k in PRICES}


async def test_all_vendors_out_of_balance(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    for kind in PRICES:
        fleet[kind].faults.balance = 0
    daemon = await start(start_daemon, tmp_path, fleet)
    assert await send(daemon, phones(3), "【ACME】broke") == b"-10"
    assert fleet.accepted("【ACME】broke") == {k: [] for k in PRICES}
    # all drained now: the next send is refused without asking anyone
    # (sends, not requests: balance watchers and report polls go on)
    asked = {k: fleet[k].sends for k in PRICES}
    assert await send(daemon, phones(3, "137"), "【ACME】broke 2") == b"-10"
    assert {k: fleet[k].sends for k in PRICES} == asked


async def test_rules_split_a_send_and_a_retry_sends_only_what_is_missing(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    rules = [
        {"name": "unicom", "match": {"carriers": ["unicom"]}, "vendors": ["c123"]},
        {"name": "rest", "vendors": ["esms100", "sms10000"], "strategy": "priority"},
    ]
    fleet["c123"].faults.http_500 = True
    daemon = await start(start_daemon, tmp_path, fleet, rules=rules)
    to = ["13012345678", "13800138000", "18912345678"]
    assert await send(daemon, to, "【ACME】split") == b"-17"
    assert fleet.accepted("【ACME】split")["esms100"] == ["13800138000", "18912345678"]
    fleet["c123"].faults.http_500 = False
    # the client retries the whole send: only the unicom number goes out
    assert await send(daemon, to, "【ACME】split") == b"0"
    fleet.assert_exactly_once("【ACME】split", to)
    assert fleet.accepted("【ACME】split")["c123"] == ["13012345678"]


async def test_content_rejected_policy(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    from core.outcome import Outcome

    fleet["chuanglan"].faults.forced_outcome = Outcome.CONTENT_REJECTED
    rules = [
        {
            "name": "strict",
            "match": {"classes": ["marketing"]},
            "vendors": list(PRICES),
            "content_rejected": "stop",
        }
    ]
    daemon = await start(start_daemon, tmp_path, fleet, rules=rules)
    assert await send(daemon, phones(2), "【ACME】大促销 回TD退订") == b"-11"
    assert await send(daemon, phones(2), "【ACME】您的订单已发货") == b"0"
    assert len(fleet["smscn"].phones_of("【ACME】您的订单已发货")) == 2


async def test_our_own_rate_limit_moves_chunks_on_instead_of_waiting(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    daemon = await start(
        start_daemon,
        tmp_path,
        fleet,
        routing={"send_deadline_s": 3.0, "rate_wait_s": 0.2},
        per_vendor={"chuanglan": {"max_numbers": 10, "rate_per_s": 2}},
    )
    to = phones(50)
    assert await send(daemon, to, "【ACME】burst") == b"0"
    fleet.assert_exactly_once("【ACME】burst", to)
    got = fleet.accepted("【ACME】burst")
    # chuanglan's limit lets two requests through at once; the rest went on
    assert len(got["chuanglan"]) == 20
    assert len(got["smscn"]) == 30


async def test_the_send_deadline_stops_attempts(
    fleet: Fleet, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    import time

    fleet["chuanglan"].faults.latency_s = 5.0
    daemon = await start(
        start_daemon,
        tmp_path,
        fleet,
        routing={"send_deadline_s": 0.6},
        per_vendor={"chuanglan": {"timeout_s": 10.0}},
    )
    started = time.monotonic()
    assert await send(daemon, phones(1), "【ACME】late") == b"-17"
    assert time.monotonic() - started < 2.0
