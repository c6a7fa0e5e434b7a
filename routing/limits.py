"""Request-rate limits as vendors count them: at most N in any one-second window.

Vendors count a sliding second ("1秒内最多提交10次", esms100.txt): a send
is refused when the second before it already holds the limit.  A token
bucket (aiolimiter's leaky bucket) lets a burst of up to the rate through
on top of a second at full rate, which such a vendor answers "too fast";
a log of the grants of the last window never does.

A :class:`RateLimiter` grants slots; :meth:`~RateLimiter.try_acquire` is
the one primitive an implementation provides (one look at the log: here in
memory, :class:`SlidingWindow`; for daemons sharing Redis, one script in
``proxy.rate_limits``), and :meth:`~RateLimiter.acquire` waits for a slot
until a deadline, queueing the waiters of one process in order so that
only the first of them asks again when a slot frees.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

# A grant is counted here when it is made, and by the vendor when the
# request arrives, a little later and not always equally later (the event
# loop, the connection, the network).  The window is that much longer than
# the vendor's second, so that two grants a window apart never arrive
# closer than a second.  Measured on loopback under the tests' load
# (tests/e2e/test_vendor_rate_limits.py): up to 50 ms; twice that here
# costs a saturated vendor 9 % of its rate.
WINDOW_SLACK_S = 0.1


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` requests in any ``window_s`` seconds: what ``rate_per_s`` allows.

    A rate of one or more a second is its whole part in every second
    (a vendor counts whole requests: 2.5/s allows 2 in any second); a
    fractional rate below one is one request in every ``1 / rate`` seconds
    (0.5/s: one in any two seconds).
    """

    limit: int
    window_s: float

    @classmethod
    def per_second(cls, rate_per_s: float, slack_s: float = WINDOW_SLACK_S) -> Rate:
        if not rate_per_s > 0 or math.isinf(rate_per_s):
            raise ValueError(f"a rate must be a positive number, not {rate_per_s!r}")
        if rate_per_s >= 1:
            return cls(int(rate_per_s), 1.0 + slack_s)
        return cls(1, 1.0 / rate_per_s + slack_s)


class Slot(Enum):
    """What :meth:`RateLimiter.acquire` got."""

    FREE = "free"  # at once
    WAITED = "waited"  # after a wait
    MISSED = "missed"  # none before the deadline: nothing taken


class RateLimiter(ABC):
    """Slots of one rate, granted in the order asked for within a process."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._queue = asyncio.Lock()  # FIFO: the waiters of this process, in turn

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.rate.limit} per {self.rate.window_s:g} s>"

    @abstractmethod
    async def try_acquire(self) -> float:
        """Take a slot if one is free now: ``0.0``; else the seconds until one
        may be, and nothing is taken."""

    async def acquire(self, deadline: float) -> Slot:
        """Take a slot, waiting for one until ``deadline`` (``time.monotonic()``)
        at the latest.

        Gives up at once when the next slot frees only after the deadline:
        the send fails over now rather than later.
        """
        if not self._queue.locked():  # nobody waits here: ask at once
            wait = await self.try_acquire()
            if wait == 0.0:
                return Slot.FREE
            if time.monotonic() + wait > deadline:
                return Slot.MISSED
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._queue.acquire()
        except TimeoutError:
            return Slot.MISSED
        try:
            while True:
                wait = await self.try_acquire()
                if wait == 0.0:
                    return Slot.WAITED
                if time.monotonic() + wait > deadline:
                    return Slot.MISSED
                await asyncio.sleep(wait)
        finally:
            self._queue.release()


class SlidingWindow(RateLimiter):
    """The log of one process's grants: for a daemon alone on its state (SQLite)."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(rate)
        self._clock = clock
        self._grants: deque[float] = deque()

    async def try_acquire(self) -> float:
        return self.take()

    def take(self) -> float:
        """:meth:`try_acquire` without suspending."""
        now = self._clock()
        grants = self._forget(now)
        if len(grants) < self.rate.limit:
            grants.append(now)
            return 0.0
        # Never 0.0 when refused: a clock that has not moved still waits a tick.
        return max(grants[0] + self.rate.window_s - now, 1e-6)

    def record(self) -> None:
        """Count a grant made elsewhere (a shared log), beyond the limit if need be."""
        now = self._clock()
        self._forget(now).append(now)

    def take_over(self, old: RateLimiter) -> None:
        """Count the grants ``old`` made in the last window (a reload changed the rate)."""
        if isinstance(old, SlidingWindow) and old._clock is self._clock:
            self._grants.extend(old._forget(self._clock()))

    def _forget(self, now: float) -> deque[float]:
        grants = self._grants
        # A grant a whole window old no longer counts: (now - window, now].
        while grants and grants[0] <= now - self.rate.window_s:
            grants.popleft()
        return grants
