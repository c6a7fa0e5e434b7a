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
import hashlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager

Key = tuple[str, str]  # (cpid, text digest)


class SendLocks:
    def __init__(self) -> None:
        # Per (client, text): the number sets of the sends in flight.  Sets, so
        # a 1000-number send is one disjointness test, not a thousand look-ups.
        self._in_flight: dict[Key, list[tuple[frozenset[str], asyncio.Future[None]]]] = {}

    def __repr__(self) -> str:
        return f"<SendLocks in_flight={sum(len(v) for v in self._in_flight.values())}>"

    @asynccontextmanager
    async def hold(self, key: Key, phones: Sequence[str]) -> AsyncIterator[None]:
        numbers = frozenset(phones)
        while busy := [
            f for others, f in self._in_flight.get(key, ()) if not numbers.isdisjoint(others)
        ]:
            await asyncio.wait(busy)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (numbers, mine)
        self._in_flight.setdefault(key, []).append(entry)
        try:
            yield
        finally:
            sends = self._in_flight[key]
            # By identity: equal-looking entries would cost a set comparison each.
            sends[:] = [e for e in sends if e is not entry]
            if not sends:
                del self._in_flight[key]
            mine.set_result(None)


class RecentTexts:
    """A Bloom filter of (client, text) pairs sent within the window.

    "No" is certain, "maybe" means ask the store.  Two generations, each at
    most one window old, are kept, so nothing sent within the window is
    ever forgotten; a false "maybe" only costs a look-up.
    """

    BITS = 1 << 24  # 2 MiB a generation: about 1% false "maybe" at 1.7 M texts
    HASHES = 7

    def __init__(self, window_s: float, clock: Callable[[], float]) -> None:
        self._window_s = window_s
        self._clock = clock
        self._current = bytearray(self.BITS // 8)
        self._previous = bytearray(self.BITS // 8)
        self._started = clock()
        self.added = 0

    def __repr__(self) -> str:
        return f"<RecentTexts added={self.added} window={self._window_s}s>"

    def _positions(self, key: Key) -> list[int]:
        h = hashlib.blake2b(f"{key[0]}\x00{key[1]}".encode(), digest_size=4 * self.HASHES).digest()
        return [int.from_bytes(h[i : i + 4], "little") % self.BITS for i in range(0, len(h), 4)]

    def _rotate(self) -> None:
        now = self._clock()
        if now - self._started >= self._window_s:
            self._previous, self._current = self._current, bytearray(self.BITS // 8)
            self._started = now

    def add(self, key: Key) -> None:
        self._rotate()
        for p in self._positions(key):
            self._current[p >> 3] |= 1 << (p & 7)
        self.added += 1

    def add_all(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self.add(key)

    def maybe(self, key: Key) -> bool:
        self._rotate()
        positions = self._positions(key)
        return any(
            all(gen[p >> 3] & (1 << (p & 7)) for p in positions)
            for gen in (self._current, self._previous)
        )
