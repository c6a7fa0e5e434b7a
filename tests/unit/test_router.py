"""The router's own part of an attempt: the send's deadline, and why recipients were left."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.client import VendorClient
from adapters.esms100.adapter import Esms100Adapter
from config.vendor_kinds import Esms100Settings
from core.outcome import Outcome
from core.send import HttpRequest, HttpResponse
from routing import router as router_module
from routing.health import VendorHealth
from routing.limits import Rate, SlidingWindow
from routing.router import Router, VendorRuntime

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
