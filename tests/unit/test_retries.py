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
    for i in range(20_000):
        recent.add(("acme", f"text-{i}"))
    assert all(recent.maybe(("acme", f"text-{i}")) for i in range(0, 20_000, 97))
    false = sum(recent.maybe(("acme", f"other-{i}")) for i in range(20_000))
    assert false < 20


async def test_try_hold_holds_at_once_or_not_at_all() -> None:
    locks = SendLocks()
    key = ("acme", "d1")
    first = locks.try_hold(key, ["1", "2"])
    assert first is not None
    assert locks.try_hold(key, ["2", "3"]) is None  # shares "2"
    other = locks.try_hold(key, ["3"])
    assert other is not None
    assert locks.try_hold(("acme", "d2"), ["2"]) is not None  # another text
    waiting = asyncio.create_task(locks.acquire(key, ["2", "3"]))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    locks.release(first)
    await asyncio.sleep(0.01)
    assert not waiting.done()  # "3" is still held
    locks.release(other)
    locks.release(await waiting)
    assert locks.try_hold(key, ["1", "2", "3"]) is not None


def test_remember_is_maybe_then_add() -> None:
    clock = Clock()
    recent = RecentTexts(window_s=10, clock=clock)
    assert not recent.remember(("acme", "otp-1"))
    assert recent.remember(("acme", "otp-1"))
    assert recent.maybe(("acme", "otp-1"))
    assert not recent.maybe(("acme", "otp-2"))
    clock.now = 10.0  # rotated: known from the previous generation only
    assert recent.remember(("acme", "otp-1"))
    clock.now = 20.0  # rotated again, but remember() put it in the current one
    assert recent.maybe(("acme", "otp-1"))
    assert recent.added == 3


def test_nothing_added_within_the_window_is_ever_missed() -> None:
    clock = Clock()
    recent = RecentTexts(window_s=10, clock=clock)
    keys = [(f"c{i % 7}", f"{i:024x}") for i in range(30_000)]
    for i, key in enumerate(keys):
        clock.now = i * 9.0 / len(keys)  # all within one window, no rotation
        if i % 2:
            recent.add(key)
        else:
            recent.remember(key)
    clock.now = 15.0  # one rotation: all in the previous generation
    assert all(recent.maybe(key) for key in keys)
    assert all(recent.remember(key) for key in keys[::3])


def test_a_keys_bits_are_distinct_and_share_one_cache_line() -> None:
    recent = RecentTexts(window_s=10, clock=Clock())
    for i in range(2_000):
        index, low, high = recent._bits(("acme", f"text-{i}"))
        # A pair of words in the generation, so within one 64-byte line.
        assert index % 2 == 0 and 0 <= index <= RecentTexts.BITS // 64 - 2
        assert 0 < low < 1 << 64 and 0 < high < 1 << 64
        assert low.bit_count() + high.bit_count() == RecentTexts.HASHES


def test_few_false_maybes_when_full() -> None:
    # A generation at full rate holds 7 M keys in 8 MiB; the same load in a
    # filter 1/1024 of the size says "maybe" for about 1.6% of new keys.
    class Small(RecentTexts):
        BITS = RecentTexts.BITS >> 10
        _PAIRS = BITS // 128

    recent = Small(window_s=600, clock=Clock())
    for i in range(7_000_000 >> 10):
        recent.add(("acme", f"sent-{i}"))
    asked = 50_000
    maybes = sum(recent.maybe(("acme", f"fresh-{i}")) for i in range(asked))
    # 1.44-1.83% over 150 runs of different keys (hash seeds): a filter
    # markedly worse, or one that never says "maybe", fails.
    assert 0.012 < maybes / asked < 0.022


def test_a_code_sent_to_someone_else_is_no_reason_to_ask() -> None:
    recent = RecentTexts(window_s=600, clock=Clock())
    assert not recent.seen("acme", "code-123456", ["13800000001"])
    # The same code, by chance, to another number: nothing to look up.
    assert not recent.seen("acme", "code-123456", ["13800000002"])
    # The client retrying the first send: ask the store.
    assert recent.seen("acme", "code-123456", ["13800000001"])
    assert not recent.seen("globex", "code-123456", ["13800000001"])


def test_campaigns_are_remembered_by_text_in_both_directions() -> None:
    recent = RecentTexts(window_s=600, clock=Clock())
    many = [f"139{i:08d}" for i in range(RecentTexts.FEW + 1)]
    assert not recent.seen("acme", "sale", many)
    # A retry of one number of the campaign: its number was never hashed.
    assert recent.seen("acme", "sale", [many[5]])
    # A text first sent to few numbers, then as a campaign: ask.
    assert not recent.seen("acme", "news", ["13700000001"])
    assert recent.seen("acme", "news", many)
    assert not recent.seen("acme", "other", many)


def test_preloaded_texts_count_as_campaigns() -> None:
    recent = RecentTexts(window_s=600, clock=Clock())
    recent.preload([("acme", "before-restart")])
    assert recent.seen("acme", "before-restart", ["13800000009"])
    assert recent.seen("acme", "before-restart", [f"139{i:08d}" for i in range(100)])
    assert not recent.seen("acme", "after-restart", ["13800000009"])


def test_a_filter_replaced_by_a_reload_passes_on_what_it_sees() -> None:
    """A send still on the old engine after a reload changed the window is known
    to the new filter: the client's retry on the new engine asks the store."""
    old = RecentTexts(600, lambda: 0.0)
    assert not old.seen("acme", "d-before", ["13800138000"])
    new = RecentTexts(300, lambda: 0.0)
    old.hand_over(new)
    assert new.seen("acme", "d-before", ["13800138000"])  # known before the reload
    assert not old.seen("acme", "d-during", ["13900139000"])  # a late send, old engine
    assert new.seen("acme", "d-during", ["13900139000"])  # the retry, new engine
