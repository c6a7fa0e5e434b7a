"""Pollers: the vendor's interval, from start to start; nothing handed over is dropped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.base import DeliveryStatus, PollResult, Report
from adapters.client import VendorClient
from core.outcome import Outcome
from core.send import HttpRequest, HttpResponse, VendorLimits
from proxy.ingest.accounts import Account
from proxy.ingest.lease import poll_lease
from proxy.ingest.pollers import Poller, PollerSet, intervals
from proxy.store.sqlite import SqliteStore

ACCOUNT = Account("v", "fake", ("v",), ("v",))
REPORT = Report("13800138000", DeliveryStatus.DELIVERED, "1", "m1")


@dataclass
class FakeAdapter:
    limits: VendorLimits = field(
        default_factory=lambda: VendorLimits(10, 70, 60.0, report_poll_interval_s=5.0)
    )

    def build_report_poll(self, now_ms: int) -> HttpRequest | None:
        return HttpRequest("GET", "/reports")

    def build_reply_poll(self, now_ms: int) -> HttpRequest | None:
        return None


class FakeClient:
    """Answers polls after ``latency_s``; counts them."""

    def __init__(self, latency_s: float = 0.0, answer: PollResult | None = None) -> None:
        self.adapter = FakeAdapter()
        self.latency_s = latency_s
        self.answer = answer or PollResult(Outcome.ACCEPTED, "1", reports=(REPORT,))
        self.started: list[float] = []

    async def fetch_poll(self, what: str) -> tuple[HttpRequest, HttpResponse] | None:
        if what != "reports":
            return None
        self.started.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self.latency_s)
        return HttpRequest("GET", "/reports"), HttpResponse(200, b"")

    def read_poll(self, request: HttpRequest, answer: HttpResponse) -> PollResult:
        return self.answer


def client(fake: FakeClient) -> VendorClient:
    return fake  # type: ignore[return-value]


def test_intervals_come_from_the_adapter() -> None:
    assert intervals(client(FakeClient()), None) == {"reports": 5.0}
    assert intervals(client(FakeClient()), 0.1) == {"reports": 0.1}


async def test_polls_start_an_interval_apart_however_slow_the_answer() -> None:
    fake = FakeClient(latency_s=0.06)
    got: list[PollResult] = []

    async def sink(account: Account, result: PollResult) -> int:
        got.append(result)
        return 1

    poller = Poller(ACCOUNT, client(fake), "reports", 0.1, sink)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.45)
    poller.stop()
    await task
    gaps = [b - a for a, b in zip(fake.started, fake.started[1:], strict=False)]
    assert 3 <= len(fake.started) <= 5
    # Never early: a poll a latency apart (0.06 s) would be.  uvloop's clock
    # counts whole milliseconds, so a gap may read a millisecond short.
    assert all(gap >= 0.098 for gap in gaps), gaps
    assert len(got) == len(fake.started) and poller.received == len(got)
    assert "polls=" in repr(poller)


async def test_a_refused_poll_is_not_handed_over() -> None:
    fake = FakeClient(answer=PollResult(Outcome.RATE_LIMITED, "-15"))
    calls: list[PollResult] = []

    async def sink(account: Account, result: PollResult) -> int:
        calls.append(result)
        return 0

    poller = Poller(ACCOUNT, client(fake), "reports", 1.0, sink)
    await poller.poll_once()
    assert calls == [] and poller.last_outcome == "rate_limited"


async def test_what_was_handed_over_is_stored_before_the_next_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("proxy.ingest.pollers.STORE_RETRY_S", (0.01,))
    fake = FakeClient()
    failures = 2
    stored: list[PollResult] = []

    async def sink(account: Account, result: PollResult) -> int:
        nonlocal failures
        if failures:
            failures -= 1
            raise OSError("disk full")
        stored.append(result)
        return 1

    poller = Poller(ACCOUNT, client(fake), "reports", 1.0, sink)
    await poller.poll_once()
    assert len(fake.started) == 1 and len(stored) == 1


async def test_stopping_lets_a_poll_in_flight_finish() -> None:
    fake = FakeClient(latency_s=0.2)
    stored: list[PollResult] = []

    async def sink(account: Account, result: PollResult) -> int:
        stored.append(result)
        return 1

    pollers = PollerSet([Poller(ACCOUNT, client(fake), "reports", 10.0, sink)])
    pollers.start()
    await asyncio.sleep(0.05)
    await pollers.stop(grace_s=1.0)
    assert len(fake.started) == 1 and len(stored) == 1


async def test_of_two_daemons_only_the_lease_holder_polls(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        fakes = [FakeClient(), FakeClient()]

        async def sink(account: Account, result: PollResult) -> int:
            return 1

        pollers = [
            Poller(
                ACCOUNT,
                client(fake),
                "reports",
                0.05,
                sink,
                # A 0.4 s lease: renewed every 0.05 s, however slow the machine.
                poll_lease(store, holder, ACCOUNT.name, "reports", 0.05, 0.3),
            )
            for fake, holder in zip(fakes, ("daemon-a", "daemon-b"), strict=True)
        ]
        tasks = [asyncio.create_task(p.run()) for p in pollers]
        await asyncio.sleep(0.3)
        pollers[0].stop()  # the holder goes away: its lease runs out, the other takes over
        await tasks[0]
        polled_before = len(fakes[1].started)
        await asyncio.sleep(0.8)
        pollers[1].stop()
        await tasks[1]
    finally:
        await store.close()
    assert len(fakes[0].started) >= 3 and polled_before == 0, pollers
    assert pollers[1].standby >= 3 and len(fakes[1].started) >= 1, pollers
    assert "standby=" in repr(pollers[1])
