"""A vendor's known balance between checks, and c123's money at c123's own price."""

from __future__ import annotations

import time

from adapters.c123 import wire
from adapters.c123.adapter import C123Adapter
from config.vendor_kinds import C123Settings
from core.outcome import Outcome
from core.send import Chunk, HttpResponse
from routing.health import VendorHealth
from routing.router import Router
from tests.unit.test_router import Vendor, runtime

PHONES = ("13800138000", "13900139000", "13700137000")
LONG = "通知" * 40  # 80 characters: two segments


def test_spend_takes_segments_off_a_known_balance_never_below_0() -> None:
    health = VendorHealth("v")
    health.record_balance(10)
    health.spend(4)
    assert health.balance_segments == 6
    health.spend(9)
    assert health.balance_segments == 0
    health.record_balance(25)  # the next check is the truth again
    assert health.balance_segments == 25


def test_spend_leaves_an_unknown_balance_unknown() -> None:
    health = VendorHealth("v")
    health.spend(4)
    assert health.balance_segments is None


async def test_an_accepted_attempt_spends_segments_times_recipients_a_refused_one_nothing() -> None:
    answers = Vendor()
    vendor = runtime(answers)
    vendor.health.record_balance(100)
    router = Router([vendor])
    result = await router.route(PHONES, LONG, time.monotonic() + 5, router.all_vendors())
    assert [a.outcome for a in result.attempts] == [Outcome.ACCEPTED]
    assert vendor.health.balance_segments == 100 - 2 * 3
    answers.body = b"-11"  # content refused
    result = await router.route(PHONES, LONG, time.monotonic() + 5, router.all_vendors())
    assert [a.outcome for a in result.attempts] == [Outcome.CONTENT_REJECTED]
    assert vendor.health.balance_segments == 94


def c123(price: float) -> C123Adapter:
    return C123Adapter(
        C123Settings(
            kind="c123",
            name="c123",
            base_url="http://127.0.0.1:1",
            price_per_segment=price,
            ac="1001@500008880001",
            authkey="87B01469201D6557C2685137EB3B5DEC",
            cgid="80",
        )
    )


def balance(adapter: C123Adapter, **item: str) -> int | None:
    body = wire.encode_answer("getBalance", 1, [{"cid": "1", "sid": "2", **item}])
    result = adapter.parse_balance(HttpResponse(200, body))
    assert result.outcome is Outcome.ACCEPTED
    return result.segments


def sent(adapter: C123Adapter, price: str) -> None:
    item = {"msgid": "7", "total": "1", "price": price, "remain": "99.900"}
    prepared = adapter.build_send(Chunk(PHONES[:1], "hi", 1), 0)
    body = wire.encode_answer("sendOnce", 1, [item])
    assert adapter.parse_send(prepared, HttpResponse(200, body)).outcome is Outcome.ACCEPTED


def test_c123_balance_is_counted_at_the_price_its_send_answers_give() -> None:
    adapter = c123(price=0.032)
    assert balance(adapter, remain="100.000") == 3125  # nothing from c123 yet: our price
    sent(adapter, "0.10")
    assert balance(adapter, remain="100.000") == 1000
    sent(adapter, "0.08")  # c123 changed its price: the latest holds
    assert balance(adapter, remain="100.000") == 1250


def test_c123_balance_answer_with_a_price_of_its_own_is_taken_at_that_price() -> None:
    adapter = c123(price=0.032)
    assert balance(adapter, remain="0.10", price="0.0001") == 1000


def test_c123_send_answer_without_a_usable_price_keeps_the_last_one() -> None:
    adapter = c123(price=0.05)
    sent(adapter, "0.10")
    sent(adapter, "")
    sent(adapter, "0")
    assert balance(adapter, remain="1.000") == 10
