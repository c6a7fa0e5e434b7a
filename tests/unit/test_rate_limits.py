"""The local sliding-window limiter: never more than N in any one-second window."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Sequence

import pytest

from routing.limits import WINDOW_SLACK_S, Rate, SlidingWindow, Slot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def most_in_any_window(grants: Sequence[float], window_s: float = 1.0) -> int:
    """The most grants any half-open window (t - window_s, t] holds, as a vendor counts."""
    ordered = sorted(grants)
    most, first = 0, 0
    for last, t in enumerate(ordered):
        while ordered[first] <= t - window_s:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_the_rates_vendors_count() -> None:
    assert Rate.per_second(20) == Rate(20, 1.0 + WINDOW_SLACK_S)
    assert Rate.per_second(2.5) == Rate(2, 1.0 + WINDOW_SLACK_S)  # whole requests
    assert Rate.per_second(0.5) == Rate(1, 2.0 + WINDOW_SLACK_S)  # one every two seconds
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            Rate.per_second(bad)


@pytest.mark.parametrize("rate_per_s", [20.0, 10.0, 2.5, 1.0])
def test_no_second_holds_more_than_the_rate_whatever_the_arrivals(rate_per_s: float) -> None:
    clock = Clock()
    limiter = SlidingWindow(Rate.per_second(rate_per_s), clock)
    rng = random.Random(7)
    window_s = limiter.rate.window_s
    grants: list[float] = []
    refused = 0
    # Bursts and lulls: the shape that let a token bucket pass twice the rate.
    for _ in range(20_000):
        clock.now += rng.choice((0.0, 0.0, 0.001, 0.01, 0.2, 1.5)) * rng.random()
        if limiter.take() == 0.0:
            grants.append(clock.now)
        else:
            refused += 1
            # Refused only when the window is full: no slot is wasted.
            assert sum(1 for g in grants[-100:] if g > clock.now - window_s) == int(rate_per_s)
    assert refused > 1000
    assert most_in_any_window(grants) == int(rate_per_s)


def test_a_fractional_rate_below_one_spaces_the_requests() -> None:
    clock = Clock()
    limiter = SlidingWindow(Rate.per_second(0.5), clock)
    grants = []
    for _ in range(1000):
        clock.now += 0.05
        if limiter.take() == 0.0:
            grants.append(clock.now)
    assert len(grants) >= 20
    assert min(b - a for a, b in itertools.pairwise(grants)) >= 2.0
    assert most_in_any_window(grants, 2.0) == 1


def test_a_refusal_says_when_the_next_slot_frees() -> None:
    clock = Clock()
    limiter = SlidingWindow(Rate(2, 1.0), clock)
    assert limiter.take() == 0.0
    clock.now += 0.3
    assert limiter.take() == 0.0
    clock.now += 0.1
    assert limiter.take() == pytest.approx(0.6)  # the first grant leaves at 1000 + 1.0
    clock.now += 0.6
    assert limiter.take() == 0.0
    assert limiter.take() == pytest.approx(0.3)


async def test_waiters_get_slots_in_turn_never_above_the_rate() -> None:
    limiter = SlidingWindow(Rate(10, 0.2))  # 10 in any 0.2 s: a fast test of the same rule
    grants: list[float] = []

    async def send() -> Slot:
        slot = await limiter.acquire(time.monotonic() + 5.0)
        # The moment the limiter granted it (its log's newest: nothing ran since),
        # not a clock read after: microseconds of jitter between two reads put a
        # grant made exactly a window after another inside the window (CI).
        grants.append(limiter._grants[-1])
        return slot

    started = time.monotonic()
    slots = await asyncio.gather(*(send() for _ in range(50)))
    assert slots.count(Slot.FREE) == 10
    assert slots.count(Slot.WAITED) == 40
    assert most_in_any_window(grants, 0.2) <= 10
    # Five windows' worth, waited for without spinning: four windows and a little.
    assert 0.8 <= time.monotonic() - started < 2.0


async def test_a_wait_never_passes_its_deadline() -> None:
    limiter = SlidingWindow(Rate(2, 1.0))
    deadline = time.monotonic() + 0.3
    started = time.monotonic()
    slots = await asyncio.gather(*(limiter.acquire(deadline) for _ in range(10)))
    assert slots.count(Slot.FREE) == 2
    assert slots.count(Slot.MISSED) == 8
    # The next slot frees after the deadline: nobody waits for it in vain
    # (not even to the deadline, 0.3 s away).
    assert time.monotonic() - started < 0.25


async def test_queued_waiters_give_up_at_their_deadline() -> None:
    limiter = SlidingWindow(Rate(1, 0.5))
    assert await limiter.acquire(time.monotonic() + 1.0) is Slot.FREE
    started = time.monotonic()
    first = asyncio.ensure_future(limiter.acquire(started + 2.0))  # waits 0.5 s, in front
    await asyncio.sleep(0.01)
    second = await limiter.acquire(started + 0.2)  # behind it: its deadline comes first
    assert second is Slot.MISSED
    # At its deadline (a slow machine's timer may be late), not the 0.5 s slot.
    assert 0.19 <= time.monotonic() - started < 0.45
    assert await first is Slot.WAITED
