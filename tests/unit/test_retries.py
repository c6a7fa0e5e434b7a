"""Retry bookkeeping: per-number in-flight waits, and the filter of recent texts."""

from __future__ import annotations

import asyncio

from proxy.retries import RecentTexts, SendLocks


async def test_a_resend_waits_only_for_sends_sharing_a_number() -> None:
    locks = SendLocks()
    key = ("acme", "d1")
    order: list[str] = []

    async def send(name: str, phones: list[str], hold_s: float) -> None:
        async with locks.hold(key, phones):
            order.append(f"{name}+")
            await asyncio.sleep(hold_s)
            order.append(f"{name}-")

    first = asyncio.create_task(send("a", ["1", "2"], 0.05))
    await asyncio.sleep(0)
    other = asyncio.create_task(send("b", ["3"], 0.0))
    resend = asyncio.create_task(send("c", ["2", "3"], 0.0))
    await asyncio.gather(first, other, resend)
    assert order.index("b+") < order.index("a-")  # no shared number: did not wait
    assert order.index("c+") > order.index("a-")  # shares "2": waited for a
    assert repr(locks) == "<SendLocks in_flight=0>"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_recent_texts_never_forget_within_the_window() -> None:
    clock = Clock()
    recent = RecentTexts(window_s=10, clock=clock)
    assert not recent.maybe(("acme", "otp-1"))
    recent.add(("acme", "otp-1"))
    assert recent.maybe(("acme", "otp-1"))
    assert not recent.maybe(("globex", "otp-1"))
    clock.now = 9.9
    recent.add(("acme", "late"))
    clock.now = 19.8  # one rotation: both still remembered
    assert recent.maybe(("acme", "otp-1")) and recent.maybe(("acme", "late"))
    clock.now = 29.9  # two rotations: both are over a window old and may be forgotten
    assert not recent.maybe(("acme", "otp-1"))


def test_false_maybes_are_rare() -> None:
    recent = RecentTexts(window_s=600, clock=Clock())
    recent.add_all(("acme", f"text-{i}") for i in range(20_000))
    assert all(recent.maybe(("acme", f"text-{i}")) for i in range(0, 20_000, 97))
    false = sum(recent.maybe(("acme", f"other-{i}")) for i in range(20_000))
    assert false < 20
