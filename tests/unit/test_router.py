"""The router's own part of an attempt: the send's deadline, and why recipients were left."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import pytest

from adapters.client import VendorClient
from adapters.esms100.adapter import Esms100Adapter
from config.vendor_kinds import Esms100Settings
from core.outcome import Outcome
from core.send import HttpRequest, HttpResponse
from routing import router as router_module
from routing.health import VendorHealth
from routing.limits import Rate, SlidingWindow
from routing.router import RoutePolicy, Router, VendorRuntime

PHONE = "13800138000"


class Vendor:
    """Answers esms100's ``0``, or ``body``, after ``delay_s``."""

    def __init__(self, delay_s: float = 0.0, body: bytes = b"0") -> None:
        self.delay_s = delay_s
        self.body = body
        self.requests = 0

    async def exchange(self, request: HttpRequest) -> HttpResponse:
        self.requests += 1
        await asyncio.sleep(self.delay_s)
        return HttpResponse(200, self.body)


def runtime(
    vendor: Vendor, name: str = "e", timeouts: tuple[float, float] | None = (3.0, 10.0)
) -> VendorRuntime:
    connect_s, answer_s = timeouts or (3.0, 10.0)
    settings = Esms100Settings(
        kind="esms100",
        name=name,
        base_url="http://127.0.0.1:1",
        price_per_segment=0.05,
        connect_timeout_s=connect_s,
        timeout_s=answer_s,
        cpid="10000",
        password="123456",
    )
    return VendorRuntime(
        name,
        VendorClient(name, Esms100Adapter(settings), vendor),  # type: ignore[arg-type]
        VendorHealth(name),
        SlidingWindow(Rate.per_second(100)),
        0.05,
        settings=settings if timeouts is not None else None,
    )


async def test_the_deadline_cuts_an_exchange_the_transport_might_let_run_past_it() -> None:
    router = Router([runtime(Vendor(delay_s=5.0))])  # its own time-outs: 3 + 10 s
    started = time.monotonic()
    result = await router.route([PHONE], "hi", started + 0.1, router.all_vendors())
    assert time.monotonic() - started < 1.0
    assert [(a.outcome, a.raw_code) for a in result.attempts] == [(Outcome.AMBIGUOUS, "deadline")]


async def test_a_vendor_of_unknown_time_outs_always_runs_under_the_deadline() -> None:
    router = Router([runtime(Vendor(delay_s=5.0), timeouts=None)])
    started = time.monotonic()
    result = await router.route([PHONE], "hi", started + 0.1, router.all_vendors())
    assert time.monotonic() - started < 1.0
    assert result.attempts[0].raw_code == "deadline"


async def test_no_timer_of_ours_when_the_transport_gives_up_before_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This vendor answers after 0.3 s although its transport claims to give up
    # after 0.02 s: that it is answered past the deadline shows the router left
    # the time-out to the transport (which would have kept its word).
    monkeypatch.setattr(router_module, "TIMER_SLACK_S", 0.0)
    router = Router([runtime(Vendor(delay_s=0.3), timeouts=(0.01, 0.01))])
    result = await router.route([PHONE], "hi", time.monotonic() + 0.1, router.all_vendors())
    assert [a.outcome for a in result.attempts] == [Outcome.ACCEPTED]


async def test_recipients_no_vendor_was_tried_for_fail_with_the_reason_of_the_skips() -> None:
    broke, held = runtime(Vendor(), "broke"), runtime(Vendor(), "held")
    broke.health.record_balance(0)
    router = Router([broke])
    result = await router.route([PHONE], "hi", time.monotonic() + 5, router.all_vendors())
    assert result.attempts == [] and result.failed == {PHONE: Outcome.BALANCE_EXHAUSTED}

    held.health.hold()
    router = Router([broke, held])
    result = await router.route([PHONE], "hi", time.monotonic() + 5, router.all_vendors())
    assert result.failed == {PHONE: Outcome.UNREACHABLE}


async def test_recipients_left_after_failing_over_keep_the_last_vendors_reason() -> None:
    first, second = Vendor(body=b"-10"), Vendor(body=b"-15")  # no money; too fast
    router = Router([runtime(first, "a"), runtime(second, "b")])
    result = await router.route([PHONE], "hi", time.monotonic() + 5, router.all_vendors())
    assert [a.vendor for a in result.attempts] == ["a", "b"]
    assert result.failed == {PHONE: Outcome.RATE_LIMITED}
    assert (first.requests, second.requests) == (1, 1)


class Books:
    """An attempt ledger that keeps what it is told, in order."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, ...]] = []

    async def before(
        self, vendor: str, phones: tuple[str, ...], message_ids: Mapping[str, str]
    ) -> int:
        self.lines.append(("before", vendor))
        return len(self.lines)

    async def after(
        self,
        key: int,
        phones: tuple[str, ...],
        outcome: Outcome,
        raw_code: str,
        message_ids: Mapping[str, str],
    ) -> None:
        self.lines.append(("after", self.lines[key - 1][1], outcome.value, raw_code))


async def test_a_vendor_at_its_limit_fails_over_at_once_and_its_attempt_is_settled_unsent() -> None:
    busy, spare = Vendor(), Vendor()
    a, b = runtime(busy, "a"), runtime(spare, "b")
    a.limiter = SlidingWindow(Rate(1, 10.0))  # its one slot is taken; the next in 10 s
    assert a.limiter.take() == 0.0
    router = Router([a, b], rate_wait_s=2.0)
    books = Books()
    started = time.monotonic()
    result = await router.route(
        [PHONE], "hi", time.monotonic() + 5, RoutePolicy(("a", "b"), "priority"), books
    )
    # The slot frees after rate_wait_s: no point waiting for it.
    assert time.monotonic() - started < 0.5
    assert [(x.vendor, x.outcome) for x in result.attempts] == [
        ("a", Outcome.RATE_LIMITED),
        ("b", Outcome.ACCEPTED),
    ]
    assert (busy.requests, spare.requests) == (0, 1)
    assert books.lines == [
        ("before", "a"),
        ("after", "a", "rate_limited", "local_rate_limit"),
        ("before", "b"),
        ("after", "b", "accepted", "0"),
    ]
    assert a.health.state.value == "routable"  # it never saw the request


async def test_a_chunk_waits_for_the_next_slot_within_rate_wait_s() -> None:
    vendor = Vendor()
    a = runtime(vendor, "a")
    a.limiter = SlidingWindow(Rate(1, 0.3))
    router = Router([a], rate_wait_s=2.0)
    started = time.monotonic()  # before the first slot: a stall after it shortens no wait
    first = await router.route([PHONE], "hi", time.monotonic() + 5, router.all_vendors())
    second = await router.route(["13900139000"], "hi", time.monotonic() + 5, router.all_vendors())
    assert 0.3 <= time.monotonic() - started < 1.5
    assert [x.outcome for x in first.attempts + second.attempts] == [Outcome.ACCEPTED] * 2
