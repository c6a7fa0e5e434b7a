"""The contract every adapter passes against its own simulator, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from adapters.base import DeliveryStatus, Reply, Report
from adapters.client import VendorClient
from adapters.http.client import VendorHttp
from adapters.http_in import incoming
from adapters.registry import make_adapter
from adapters.simulator import Simulator, SimulatorServer
from adapters.transport import VendorTransport
from core.outcome import Outcome
from core.send import Chunk, split_chunks
from tests.adapters.cases import CASES, VendorCase

TEXT = "【测试】您的验证码是 123456，5分钟内有效。"


@dataclass
class Rig:
    case: VendorCase
    sim: Simulator
    client: VendorClient
    pushed_reports: list[Report]
    pushed_replies: list[Reply]

    @property
    def pushes(self) -> bool:
        return self.client.adapter.build_report_poll(0) is None


def phones(n: int, start: int = 0) -> tuple[str, ...]:
    return tuple(f"139{start + i:08d}" for i in range(n))


_ids = iter(range(1, 1 << 30))


def chunk(n: int = 3, text: str = TEXT, start: int = 0) -> Chunk:
    return Chunk(phones(n, start), text, next(_ids))


@pytest.fixture(params=CASES, ids=str)
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    case: VendorCase = request.param
    sim = case.simulator()
    settings = case.settings("http://127.0.0.1:1")
    adapter = make_adapter(settings)
    reports: list[Report] = []
    replies: list[Reply] = []

    async def receive(req: web.Request) -> web.Response:
        pushed = await incoming(req)
        result = adapter.parse_push(pushed)
        reports.extend(result.reports)
        replies.extend(result.replies)
        return web.Response(status=result.answer.status, body=result.answer.body)

    receiver = web.Application()
    receiver.router.add_route("*", "/{tail:.*}", receive)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with SimulatorServer(sim) as server, VendorHttp() as http:
        sim.faults.push_url = f"http://127.0.0.1:{port}/push/{case.kind}"
        sim.faults.report_delay_s = 0.05
        settings = case.settings(server.url)
        transport = VendorTransport(http, server.url, connect_timeout_s=1, timeout_s=1)
        yield Rig(
            case,
            sim,
            VendorClient(settings.name, make_adapter(settings), transport),
            reports,
            replies,
        )
    await runner.cleanup()


async def test_send_is_accepted_with_exact_text(rig: Rig) -> None:
    result = await rig.client.send(chunk(3))
    assert result.outcome is Outcome.ACCEPTED, result
    assert sorted(rig.sim.phones_of(TEXT)) == sorted(phones(3))
    assert not result.malformed


@pytest.mark.parametrize(
    "forced",
    [
        Outcome.BALANCE_EXHAUSTED,
        Outcome.RATE_LIMITED,
        Outcome.IP_REJECTED,
        Outcome.AUTH_FAILED,
        Outcome.CONTENT_REJECTED,
        Outcome.RECIPIENT_INVALID,
        Outcome.REQUEST_INVALID,
        Outcome.VENDOR_BUSY,
    ],
    ids=lambda o: o.value,
)
async def test_each_outcome_class(rig: Rig, forced: Outcome) -> None:
    rig.sim.faults.forced_outcome = forced
    result = await rig.client.send(chunk(2))
    assert result.outcome is rig.case.aliases.get(forced, forced), result
    assert rig.sim.accepted == []


async def test_the_rate_limit_counts_sends_in_any_one_second(rig: Rig) -> None:
    # A vendor's "1秒内最多提交10次" is any second, not seconds on a grid: 3
    # sends late in one grid second and 3 early in the next are 6 in a second.
    rig.sim.faults.rate_limit_per_s = 5
    sent = 0

    async def send(n: int) -> list[Outcome]:
        nonlocal sent
        outcomes = []
        for _ in range(n):
            outcomes.append((await rig.client.send(chunk(1, start=sent))).outcome)
            sent += 1
        return outcomes

    outcomes = await send(1)
    await asyncio.sleep(0.9)
    outcomes += await send(3)
    await asyncio.sleep(0.25)  # the first left the window; the three did not
    outcomes += await send(3)
    too_fast = rig.case.aliases.get(Outcome.RATE_LIMITED, Outcome.RATE_LIMITED)
    assert outcomes == [Outcome.ACCEPTED] * 6 + [too_fast]
    assert rig.sim.too_fast == 1
    assert len(rig.sim.accepted) == 6
    # A balance query is no send: the limit leaves it alone.
    balance = await rig.client.balance()
    assert balance is None or balance.outcome is Outcome.ACCEPTED, balance
    await asyncio.sleep(1.0)
    assert await send(1) == [Outcome.ACCEPTED]


async def test_balance_runs_out(rig: Rig) -> None:
    rig.sim.faults.balance = 3
    assert (await rig.client.send(chunk(3))).outcome is Outcome.ACCEPTED
    result = await rig.client.send(chunk(1, start=100))
    assert result.outcome is Outcome.BALANCE_EXHAUSTED
    assert len(rig.sim.accepted) == 3


async def test_chunking_at_the_cap(rig: Rig) -> None:
    cap = rig.client.adapter.limits.max_numbers
    over = phones(cap + 1)
    parts = list(split_chunks(over, cap))
    assert [len(p) for p in parts] == [cap, 1]
    results = [await rig.client.send(Chunk(p, "hello", next(_ids))) for p in parts]
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert sorted(rig.sim.phones_of("hello")) == sorted(over)


async def test_over_the_cap_is_refused_by_the_vendor(rig: Rig) -> None:
    cap = rig.client.adapter.limits.max_numbers
    result = await rig.client.send(Chunk(phones(cap + 1), "hello", next(_ids)))
    assert result.outcome is Outcome.REQUEST_INVALID
    assert rig.sim.accepted == []


async def test_balance_query(rig: Rig) -> None:
    rig.sim.faults.balance = 500
    result = await rig.client.balance()
    if result is None:
        return  # the vendor has no balance query; its adapter says so
    assert result.outcome is Outcome.ACCEPTED
    assert result.segments is not None and 400 <= result.segments <= 500


async def _collect_reports(rig: Rig, want: int) -> list[Report]:
    got: list[Report] = []
    for _ in range(100):
        if rig.pushes:
            got = list(rig.pushed_reports)
        else:
            polled = await rig.client.poll_reports()
            assert polled is not None and polled.outcome is Outcome.ACCEPTED, polled
            got += polled.reports
        if len(got) >= want:
            return got
        await asyncio.sleep(0.05)
    return got


async def test_delivery_reports(rig: Rig) -> None:
    rig.sim.faults.report_status = DeliveryStatus.DELIVERED
    sent = await rig.client.send(chunk(2, start=200))
    assert sent.outcome is Outcome.ACCEPTED
    rig.sim.faults.report_status = DeliveryStatus.FAILED
    assert (await rig.client.send(chunk(1, start=300))).outcome is Outcome.ACCEPTED
    reports = await _collect_reports(rig, 3)
    by_phone = {r.phone: r for r in reports}
    assert set(by_phone) == {*phones(2, 200), *phones(1, 300)}
    assert by_phone[phones(1, 200)[0]].status is DeliveryStatus.DELIVERED
    assert by_phone[phones(1, 300)[0]].status is DeliveryStatus.FAILED
    for phone, ident in sent.message_ids.items():
        assert by_phone[phone].message_id == ident


async def test_replies(rig: Rig) -> None:
    rig.sim.inject_reply("13912345678", "好的，收到 TD")
    replies: list[Reply] = []
    for _ in range(100):
        if rig.pushes:
            replies = list(rig.pushed_replies)
        else:
            polled = await rig.client.poll_replies()
            assert polled is not None and polled.outcome is Outcome.ACCEPTED, polled
            replies += polled.replies
        if replies:
            break
        await asyncio.sleep(0.05)
    assert [(r.phone, r.text) for r in replies] == [("13912345678", "好的，收到 TD")]


async def test_garbage_is_malformed_and_ambiguous(rig: Rig) -> None:
    rig.sim.faults.garbage = True
    result = await rig.client.send(chunk(1))
    assert result.outcome is Outcome.AMBIGUOUS and result.malformed
    balance = await rig.client.balance()
    assert balance is None or balance.outcome is not Outcome.ACCEPTED


# One table for every vendor (adapters/http_status.py): no vendor code is read.
HTTP_STATUSES = {
    429: Outcome.RATE_LIMITED,
    401: Outcome.AUTH_FAILED,
    403: Outcome.IP_REJECTED,
    404: Outcome.REFUSED,
    405: Outcome.REFUSED,
    400: Outcome.REFUSED,
    500: Outcome.VENDOR_BUSY,
    502: Outcome.VENDOR_BUSY,
    503: Outcome.VENDOR_BUSY,
    504: Outcome.VENDOR_BUSY,
}


@pytest.mark.parametrize(("status", "expected"), HTTP_STATUSES.items(), ids=str)
async def test_each_http_status_class(rig: Rig, status: int, expected: Outcome) -> None:
    rig.sim.faults.http_status = status
    want = (expected, f"http_{status}", False)
    sent = await rig.client.send(chunk(1))
    assert (sent.outcome, sent.raw_code, sent.malformed) == want, sent
    assert rig.sim.accepted == []
    # No side effect on a balance query or a poll, and still the same table.
    balance = await rig.client.balance()
    assert balance is None or (balance.outcome, balance.raw_code, balance.malformed) == want
    for poll in (await rig.client.poll_reports(), await rig.client.poll_replies()):
        assert poll is None or (poll.outcome, poll.raw_code, poll.malformed) == want, poll


async def test_http_500_is_vendor_busy(rig: Rig) -> None:
    rig.sim.faults.http_500 = True
    assert (await rig.client.send(chunk(1))).outcome is Outcome.VENDOR_BUSY


async def test_no_answer_is_ambiguous(rig: Rig) -> None:
    rig.sim.faults.hang = True
    result = await rig.client.send(chunk(1))
    assert result.outcome is Outcome.AMBIGUOUS
    assert result.raw_code == "timeout"


async def test_nobody_listening_is_unreachable(rig: Rig) -> None:
    async with VendorHttp() as http:
        transport = VendorTransport(http, "http://127.0.0.1:9", connect_timeout_s=1, timeout_s=1)
        client = VendorClient("x", rig.client.adapter, transport)
        result = await client.send(chunk(1))
    assert result.outcome is Outcome.UNREACHABLE
