"""Where a daemon's rate limiters come from: its own memory, or the Redis it shares.

Alone on its state (SQLite) a daemon counts in memory
(:class:`routing.limits.SlidingWindow`).  Daemons sharing Redis count in
one log a vendor, and one a client, on the server, so that together they
send a vendor no more than its ``rate_per_s`` in any window:

=====================================  ===========================================
``rate:vendor:<name>``                 zset: grants of the last window, by the
``rate:client:<cpid>``                 Redis server's clock (µs)
=====================================  ===========================================

A check is one script (EVALSHA, loaded again after a Redis restart), timed
by the server's ``TIME``: daemons whose clocks disagree still agree on the
window.  The checks of one turn of the event loop, whatever their keys, are
one call of it (:mod:`proxy.store.redis.batch`): the sends the group commit
wakes together ask for their vendors' slots together.  While Redis does
not answer (down, failing over, or every pooled connection busy for longer
than :data:`CHECK_S`) no slot is granted: the send waits and asks again
until its deadline, then fails over or is answered as not sent.  A daemon
counting on its own would let N daemons send N times the rate, exactly when
a failover makes vendors' answers matter most; and a send cannot be
recorded without Redis anyway.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import structlog
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from proxy.store.base import Store
from proxy.store.redis.batch import TickBatch
from proxy.store.redis.keyspace import Keyspace
from proxy.store.redis.store import RedisStore
from routing.limits import Rate, RateLimiter, SlidingWindow

log = structlog.get_logger("smsproxy.rate_limits")

# How long one check may take, waiting for a pooled connection included,
# before it counts as unanswered and is asked again.
CHECK_S = 0.5
# How soon a check that Redis did not answer is asked again.
RETRY_S = 0.1

TAKE_SLOTS = """
-- KEYS: the logs, grants by the server's time in µs.  ARGV, for each key in
-- turn: its limit, its window (µs), how many slots are asked, then that many
-- members no other grant has.  Answers, for each key, how many were granted
-- (the first asked first) and, when not all, the µs until the oldest grant
-- leaves the window.  Whole µs since the epoch are below 2^53: exact in a Lua
-- number and a zset score.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out, a = {}, 1
for i, key in ipairs(KEYS) do
  local limit, window, asked = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local first = a + 3
  a = first + asked
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  -- Grants "after" now come from before the server's clock was set back.
  -- (Formatted: Lua's own number-to-string keeps only 14 digits.)
  redis.call('ZREMRANGEBYSCORE', key, string.format('(%.0f', now), '+inf')
  local granted = math.max(0, math.min(asked, limit - redis.call('ZCARD', key)))
  -- In slices, within Lua's stack.
  for s = 0, granted - 1, 500 do
    local add = {}
    for j = s, math.min(s + 499, granted - 1) do
      add[#add + 1] = now
      add[#add + 1] = ARGV[first + j]
    end
    redis.call('ZADD', key, unpack(add))
  end
  if granted > 0 then redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1000) end
  local wait = 0
  if granted < asked then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(1, tonumber(oldest[2]) + window - now)
  end
  out[i] = {granted, wait}
end
return out
"""


class SlotAsk(NamedTuple):
    key: str
    limit: str
    window_us: str
    member: str


class SlotBatch:
    """The slots a daemon's limiters ask for in one turn of the loop, taken in one script.

    The ask in :meth:`SharedWindow.try_acquire` waits only for its own
    answer; the batch is what the time limit of :data:`CHECK_S` bounds (a
    pooled connection's wait included).  An ask Redis did not answer in
    time is answered ``None``: no slot.
    """

    def __init__(self, script: AsyncScript) -> None:
        self._script = script
        self.batch: TickBatch[SlotAsk, int | None] = TickBatch(self._take, "slots")
        self._unanswered: set[str] = set()  # logs Redis last did not answer for

    def __repr__(self) -> str:
        return f"<SlotBatch {self.batch!r}>"

    async def _take(self, asks: list[SlotAsk]) -> list[int | None]:
        """Each ask's wait in µs (0: granted), or None when Redis did not answer."""
        # Asks of one log (one key, limit and window), in the order asked.
        logs: dict[tuple[str, str, str], list[int]] = {}
        for i, ask in enumerate(asks):
            logs.setdefault((ask.key, ask.limit, ask.window_us), []).append(i)
        keys, args = [], []
        for (key, limit, window), members in logs.items():
            keys.append(key)
            args += [limit, window, str(len(members))]
            args += [asks[i].member for i in members]
        try:
            async with asyncio.timeout(CHECK_S):
                answers = await self._script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self._unanswered_for(keys, exc)
            return [None] * len(asks)
        if self._unanswered:
            self._answered_for(keys)
        waits: list[int | None] = [0] * len(asks)
        for members, (granted, wait_us) in zip(logs.values(), answers, strict=True):
            for i in members[int(granted) :]:
                waits[i] = int(wait_us)
        return waits

    def _unanswered_for(self, keys: Sequence[str], exc: BaseException) -> None:
        # Once a log until Redis answers for it again, not once a send.
        for key in keys:
            if key not in self._unanswered:
                self._unanswered.add(key)
                log.warning("rate_limit_unanswered", limit=key, error=type(exc).__name__)

    def _answered_for(self, keys: Sequence[str]) -> None:
        for key in keys:
            if key in self._unanswered:
                self._unanswered.discard(key)
                log.info("rate_limit_answered", limit=key)


class SharedWindow(RateLimiter):
    """One rate's log in Redis, shared by every daemon that names the same key."""

    def __init__(
        self, rate: Rate, slots: SlotBatch, key: str, holder: str, grants: Iterator[int]
    ) -> None:
        super().__init__(rate)
        self._slots = slots
        self.key = key
        self._holder = holder
        # The daemon's one count (RateLimits): a limiter a reload remakes for
        # the same key must not reuse the names of the old one's grants still
        # in the log, which ZADD would overwrite rather than count.
        self._grants = grants
        self._limit = str(rate.limit)
        self._window_us = str(round(rate.window_s * 1_000_000))

    def __repr__(self) -> str:
        return f"<SharedWindow {self.key} {self.rate.limit} per {self.rate.window_s:g} s>"

    async def try_acquire(self) -> float:
        member = f"{self._holder}:{next(self._grants)}"
        ask = SlotAsk(self.key, self._limit, self._window_us, member)
        wait_us = await self._slots.batch.ask(ask)
        if wait_us is None:
            return RETRY_S
        if wait_us == 0:
            return 0.0
        return wait_us / 1_000_000


class RateLimits:
    """The limiters of one daemon: in memory, or shared through ``keys``."""

    def __init__(self, keys: Keyspace | None = None) -> None:
        self._keys = keys
        # A grant is stamped when the script runs: waiting for replicas
        # (state.redis_min_replicas_acked) before the request leaves let it
        # reach the vendor that much later, closer to the next window's.  A
        # slot backs no 0: a failover may lose it.
        self._slots = (
            SlotBatch(keys.script(TAKE_SLOTS, backs_answers=False)) if keys is not None else None
        )
        # Tells this daemon's grants from another's in a shared log.
        self._holder = secrets.token_hex(6)
        self._grants = itertools.count(1)

    def __repr__(self) -> str:
        return f"<RateLimits {'shared' if self._keys is not None else 'local'}>"

    @classmethod
    def of(cls, store: Store) -> RateLimits:
        return cls(store.keys if isinstance(store, RedisStore) else None)

    @property
    def shared(self) -> bool:
        return self._keys is not None

    # ``previous``: the limiter a reload replaces.  In Redis its grants are
    # in the shared log already; in memory the new log starts from its own.
    def vendor(
        self, name: str, rate_per_s: float, previous: RateLimiter | None = None
    ) -> RateLimiter:
        return self._limiter("rate:vendor:", name, rate_per_s, previous)

    def client(
        self, cpid: str, rate_per_s: float, previous: RateLimiter | None = None
    ) -> RateLimiter:
        return self._limiter("rate:client:", cpid, rate_per_s, previous)

    def _limiter(
        self, kind: str, name: str, rate_per_s: float, previous: RateLimiter | None
    ) -> RateLimiter:
        rate = Rate.per_second(rate_per_s)
        if self._keys is None or self._slots is None:
            window = SlidingWindow(rate, time.monotonic)
            if previous is not None:
                window.take_over(previous)
            return window
        return SharedWindow(
            rate, self._slots, self._keys.key(kind, name), self._holder, self._grants
        )
