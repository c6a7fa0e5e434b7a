"""The rule book's reading of the clock, and its classifier, against the plain definitions."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from config.loader import settings_from
from config.rules import ClassesSettings
from routing.rulebook import RuleBook
from routing.rules import Classifier


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rulebook(clock: Clock, zone: str = "Asia/Shanghai", **extra: Any) -> RuleBook:
    config = {
        "routing": {"timezone": zone},
        "clients": [{"cpid": "acme", "password": "x"}],
        "vendors": [
            {
                "kind": "esms100",
                "name": "a",
                "base_url": "http://127.0.0.1:1",
                "price_per_segment": 0.05,
                "cpid": "1",
                "password": "p",
            }
        ],
        **extra,
    }
    return RuleBook(settings_from(config, "t"), clock=clock)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def test_the_minute_of_day_turns_with_the_minute() -> None:
    nine = utc(2024, 5, 1, 1)  # 09:00 in Shanghai
    clock = Clock(nine - 1.5)
    book = rulebook(clock)
    assert book.minute_of_day() == 8 * 60 + 59
    clock.now = nine - 0.001
    assert book.minute_of_day() == 8 * 60 + 59
    clock.now = nine
    assert book.minute_of_day() == 9 * 60
    clock.now = nine + 59.999
    assert book.minute_of_day() == 9 * 60
    clock.now = nine + 60
    assert book.minute_of_day() == 9 * 60 + 1


def test_a_clock_stepped_back_is_read_again() -> None:
    clock = Clock(utc(2024, 5, 1, 1, 0, 30))  # 09:00:30
    book = rulebook(clock)
    assert book.minute_of_day() == 9 * 60
    clock.now -= 31  # 08:59:59
    assert book.minute_of_day() == 8 * 60 + 59


def test_the_minute_jumps_with_daylight_saving() -> None:
    # Berlin springs from 02:00 CET to 03:00 CEST at 01:00 UTC.
    clock = Clock(utc(2024, 3, 31, 0, 59, 30))
    book = rulebook(clock, "Europe/Berlin")
    assert book.minute_of_day() == 1 * 60 + 59
    clock.now += 30
    assert book.minute_of_day() == 3 * 60


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/St_Johns"])
def test_the_minute_of_day_is_the_zones_wall_clock_whatever_the_order_of_reads(
    zone: str,
) -> None:
    rnd = random.Random(zone)
    start = utc(2024, 3, 9)
    clock = Clock(start)
    book = rulebook(clock, zone)
    tz = ZoneInfo(zone)
    for _ in range(5000):
        # Mostly small steps forward, some back, some far.
        step = rnd.choice([rnd.uniform(0, 5), rnd.uniform(-90, 0), rnd.uniform(0, 86400 * 40)])
        clock.now = max(start, clock.now + step)
        local = datetime.fromtimestamp(clock.now, tz)
        assert book.minute_of_day() == local.hour * 60 + local.minute, clock.now


def test_the_context_carries_the_class_and_the_minute() -> None:
    book = rulebook(Clock(utc(2024, 5, 1, 13, 5)))  # 21:05 in Shanghai
    ctx = book.context("acme", "您的验证码是 1234", 3)
    assert (ctx.cpid, ctx.message_class, ctx.minute_of_day, ctx.recipients) == (
        "acme",
        "verification",
        21 * 60 + 5,
        3,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("price (1+1) today", "verification"),  # keywords are text, not patterns
        ("price 11 today", "notice"),
        ("ANY.THING here", "marketing"),
        ("anyXthing here", "notice"),
        ("nothing", "notice"),
    ],
)
def test_keywords_are_matched_as_text_whatever_their_case(text: str, expected: str) -> None:
    classify = Classifier(ClassesSettings(verification=["(1+1)"], marketing=["any.thing"]))
    assert classify(text, "acme") == expected


def test_no_keywords_classifies_nothing_by_keyword() -> None:
    classify = Classifier(ClassesSettings(verification=[], marketing=[]))
    assert classify("验证码 退订", "acme") == "notice"
