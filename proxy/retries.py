"""Client retries must not send an SMS twice.

A legacy client that timed out (or got an error for part of its numbers)
resends the same text to the same numbers.  Within ``routing.dedup_window_s``
the numbers a vendor already accepted — or may have, after an ambiguous
answer — are left out.

Two pieces keep that cheap.  :class:`SendLocks` makes a resend that arrives
while the first send of the same text to the same number is still in
flight wait for it (and then see its records), without holding up sends
that share no number.  :class:`RecentTexts` remembers, in a few megabytes,
which (client, text) pairs were sent lately, so the first send of a text —
every verification code — needs no database look-up at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType

Key = tuple[str, str]  # (cpid, text digest)
Remembered = tuple[str, ...]  # a Key, maybe with a number


class Held:
    """One send holding its numbers; the future exists only once someone waits for it."""

    __slots__ = ("done", "key", "numbers")

    def __init__(self, key: Key, numbers: Sequence[str]) -> None:
        self.key = key
        self.numbers = numbers
        self.done: asyncio.Future[None] | None = None


class _Text:
    """The sends in flight of one (client, text), and every number they hold."""

    __slots__ = ("busy", "sends")

    def __init__(self) -> None:
        self.sends: list[Held] = []
        self.busy: set[str] = set()


class _Hold:
    """``async with`` for :meth:`SendLocks.hold`."""

    __slots__ = ("_held", "_key", "_locks", "_phones")

    def __init__(self, locks: SendLocks, key: Key, phones: Sequence[str]) -> None:
        self._locks, self._key, self._phones = locks, key, phones
        self._held: Held | None = None

    async def __aenter__(self) -> None:
        self._held = await self._locks.acquire(self._key, self._phones)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._held is not None:
            self._locks.release(self._held)


class SendLocks:
    def __init__(self) -> None:
        # Per (client, text): the sends in flight and the union of their
        # numbers, so a send's check is one C-level pass over its own numbers
        # (a 1000-number campaign's sends each tested against every other's
        # set cost a millisecond a send).
        self._in_flight: dict[Key, _Text] = {}

    def __repr__(self) -> str:
        return f"<SendLocks in_flight={sum(len(t.sends) for t in self._in_flight.values())}>"

    def hold(self, key: Key, phones: Sequence[str]) -> _Hold:
        """``async with``: wait for the sends in flight that share a number, then hold these."""
        return _Hold(self, key, phones)

    def try_hold(self, key: Key, phones: Sequence[str]) -> Held | None:
        """Hold at once, or None when a send in flight shares a number.

        A plain call, not a coroutine: nearly every send finds nothing in its
        way, so the send path tries this before waiting in :meth:`acquire`.
        :meth:`release` what it returns.
        """
        text = self._in_flight.get(key)
        if text is None:
            text = self._in_flight[key] = _Text()
        elif not text.busy.isdisjoint(phones):
            return None
        return self._take(text, key, phones)

    def _take(self, text: _Text, key: Key, phones: Sequence[str]) -> Held:
        held = Held(key, phones)
        text.sends.append(held)
        text.busy.update(phones)
        return held

    async def acquire(self, key: Key, phones: Sequence[str]) -> Held:
        """Wait for the sends in flight that share a number, then hold these."""
        while True:
            text = self._in_flight.get(key)
            if text is None:
                text = self._in_flight[key] = _Text()
            if text.busy.isdisjoint(phones):
                return self._take(text, key, phones)
            numbers = frozenset(phones)
            loop = asyncio.get_running_loop()
            waits: list[asyncio.Future[None]] = []
            for e in text.sends:
                if not numbers.isdisjoint(e.numbers):
                    if e.done is None:
                        e.done = loop.create_future()
                    waits.append(e.done)
            await asyncio.wait(waits)

    def release(self, held: Held) -> None:
        text = self._in_flight[held.key]
        sends = text.sends
        if len(sends) == 1:  # the common case: nobody else sends this text now
            del self._in_flight[held.key]
        else:
            # By identity: equal-looking entries would cost a set comparison each.
            sends[:] = [e for e in sends if e is not held]
            # No two sends in flight share a number: these were this one's alone.
            text.busy.difference_update(held.numbers)
        if held.done is not None:
            held.done.set_result(None)


class RecentTexts:
    """A Bloom filter of what was sent within the window.

    "No" is certain, "maybe" means ask the store.  Two generations, each at
    most one window old, are kept, so nothing sent within the window is
    ever forgotten; a false "maybe" only costs a look-up.

    :meth:`seen` keys a send by (client, text) and, for a send to a few
    numbers, by (client, text, number) too: verification codes repeat (a
    million six-digit codes, hundreds of thousands of sends a window at
    full rate), and a code that went to someone else is no reason to ask.

    A key's bits lie in one pair of adjacent 64-bit words, three in each (a
    blocked Bloom filter): one cache miss per generation instead of one per
    bit, and each word's bits one mask from a table, so a key is looked up
    and set with machine-word operations.  The 512-bit blocks this replaced
    built a 512-bit mask of seven shifts a key, 2 µs of a send's 16 µs in the
    filter; the price is a little more false "maybe" when full (1.6% instead
    of 1.2% at 7 M keys, simulated).
    """

    BITS = 1 << 26  # 8 MiB a generation: about 1.6% false "maybe" at 7 M keys
    HASHES = 6  # three a word
    _PAIRS = BITS // 128
    # The three bits of a word as a + i*b (double hashing, Kirsch and
    # Mitzenmacher) for every a and odd b below 64: b odd, so all different.
    # Each set of bits comes twice (a, b and a + 2b, 64 - b name the same
    # three), so 1,024 distinct masks: as few false "maybe" as 2,048
    # distinct random ones, simulated.
    _MASKS = tuple(
        1 << a | 1 << (a + b & 63) | 1 << (a + 2 * b & 63)
        for a in range(64)
        for b in range(1, 64, 2)
    )

    def __init__(self, window_s: float, clock: Callable[[], float]) -> None:
        self._window_s = window_s
        self._clock = clock
        self._current = self._generation()
        self._previous = self._generation()
        self._started = clock()
        self.added = 0
        self._successor: RecentTexts | None = None

    def __repr__(self) -> str:
        return f"<RecentTexts added={self.added} window={self._window_s}s>"

    @classmethod
    def _generation(cls) -> memoryview:
        """The bits, as native 64-bit words."""
        return memoryview(bytearray(cls.BITS // 8)).cast("Q")

    @property
    def window_s(self) -> float:
        return self._window_s

    def absorb(self, other: RecentTexts) -> None:
        """Know everything ``other`` knows (same process, so the same hashes)."""
        current = self._current.cast("B")
        for generation in (other._current, other._previous):
            merged = int.from_bytes(current, "little") | int.from_bytes(generation, "little")
            current[:] = merged.to_bytes(len(current), "little")

    def _bits(self, key: Remembered) -> tuple[int, int, int]:
        """The key's pair of words (the index of the first) and its bits in each."""
        # Python's own hash will do: the filter lives and dies with the
        # process, so its per-process seed does not matter, and the digest's
        # hash is already computed (SendLocks used the key).  The pair comes
        # from the low bits, the masks from two higher, independent fields.
        h = hash(key)
        masks = self._MASKS
        return (h % self._PAIRS) * 2, masks[h >> 40 & 2047], masks[h >> 51 & 2047]

    def _rotate(self) -> None:
        now = self._clock()
        if now - self._started >= self._window_s:
            self._previous, self._current = self._current, self._generation()
            self._started = now

    def add(self, key: Remembered) -> None:
        self._rotate()
        words = self._current
        i, low, high = self._bits(key)
        words[i] |= low
        words[i + 1] |= high
        self.added += 1

    @staticmethod
    def _has(words: memoryview, i: int, low: int, high: int) -> bool:
        return words[i] & low == low and words[i + 1] & high == high

    # Up to this many numbers a send is remembered number by number; beyond,
    # a campaign, by its text alone (hashing a thousand numbers costs more
    # than the look-up it might save).
    FEW = 16

    def preload(self, texts: Iterable[Key]) -> None:
        """(client, text) pairs the store has seen: not knowing the numbers, as campaigns."""
        for cpid, digest in texts:
            self.add((cpid, digest))
            self.add((cpid, digest, ""))

    def seen(self, cpid: str, digest: str, phones: Sequence[str]) -> bool:
        """Remember this send; True when the store must be asked what was already sent."""
        successor = self._successor
        if successor is not None:
            # Replaced by a reload's filter: a send still on this engine is
            # remembered there too, or a retry on the new one would skip the store.
            return successor.seen(cpid, digest, phones) | self._seen(cpid, digest, phones)
        return self._seen(cpid, digest, phones)

    def hand_over(self, successor: RecentTexts) -> None:
        """``successor`` takes over (a reload changed the window): it knows what this
        filter knows now, and learns every send this one sees from now on."""
        successor.absorb(self)
        self._successor = successor

    def _seen(self, cpid: str, digest: str, phones: Sequence[str]) -> bool:
        text = (cpid, digest)
        campaign = (cpid, digest, "")  # no number is empty
        if len(phones) > self.FEW:
            self.add(campaign)
            return self.remember(text)
        self.add(text)
        maybe = self.maybe(campaign)
        for phone in phones:
            maybe = self.remember((cpid, digest, phone)) or maybe
        return maybe

    def maybe(self, key: Remembered) -> bool:
        self._rotate()
        i, low, high = self._bits(key)
        return self._has(self._current, i, low, high) or self._has(self._previous, i, low, high)

    def remember(self, key: Remembered) -> bool:
        """:meth:`maybe`, then :meth:`add`, in one pass: what every send asks."""
        self._rotate()
        i, low, high = self._bits(key)
        self.added += 1
        words = self._current
        first, second = words[i], words[i + 1]
        if first & low == low and second & high == high:
            return True
        words[i] = first | low
        words[i + 1] = second | high
        return self._has(self._previous, i, low, high)
