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
window.  While Redis does not answer (down, failing over, or every pooled
connection busy for longer than :data:`CHECK_S`) no slot is granted: the
send waits and asks again until its deadline, then fails over or is
answered as not sent.  A daemon counting on its own would let N daemons
send N times the rate, exactly when a failover makes vendors' answers
matter most; and a send cannot be recorded without Redis anyway.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Iterator

import structlog
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from proxy.store.base import Store
from proxy.store.redis.keyspace import Keyspace
from proxy.store.redis.store import RedisStore
from routing.limits import Rate, RateLimiter, SlidingWindow

log = structlog.get_logger("smsproxy.rate_limits")

# How long one check may take, waiting for a pooled connection included,
# before it counts as unanswered and is asked again.
CHECK_S = 0.5
# How soon a check that Redis did not answer is asked again.
RETRY_S = 0.1

TAKE_SLOT = """
-- KEYS[1] the log: grants by the server's time in µs.  ARGV: limit, window
-- (µs), a member no other grant has.  Answers 0 when granted, else the µs
-- until the oldest grant leaves the window.  Whole µs since the epoch are
-- below 2^53: exact in a Lua number and a zset score.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
-- Grants "after" now come from before the server's clock was set back.
-- (Formatted: Lua's own number-to-string keeps only 14 digits.)
redis.call('ZREMRANGEBYSCORE', KEYS[1], string.format('(%.0f', now), '+inf')
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class SharedWindow(RateLimiter):
    """One rate's log in Redis, shared by every daemon that names the same key."""

    def __init__(
        self, rate: Rate, script: AsyncScript, key: str, holder: str, grants: Iterator[int]
    ) -> None:
        super().__init__(rate)
        self._script = script
        self.key = key
        self._holder = holder
        # The daemon's one count (RateLimits): a limiter a reload remakes for
        # the same key must not reuse the names of the old one's grants still
        # in the log, which ZADD would overwrite rather than count.
        self._grants = grants
        self._args = (str(rate.limit), str(round(rate.window_s * 1_000_000)))
        self._shared = True

    def __repr__(self) -> str:
        return f"<SharedWindow {self.key} {self.rate.limit} per {self.rate.window_s:g} s>"

    async def try_acquire(self) -> float:
        member = f"{self._holder}:{next(self._grants)}"
        try:
            async with asyncio.timeout(CHECK_S):
                wait_us = await self._script(keys=[self.key], args=[*self._args, member])
        except (RedisError, OSError, TimeoutError) as exc:
            if self._shared:
                self._shared = False
                log.warning("rate_limit_unanswered", limit=self.key, error=type(exc).__name__)
            return RETRY_S
        if not self._shared:
            self._shared = True
            log.info("rate_limit_answered", limit=self.key)
        if int(wait_us) == 0:
            return 0.0
        return int(wait_us) / 1_000_000


class RateLimits:
    """The limiters of one daemon: in memory, or shared through ``keys``."""

    def __init__(self, keys: Keyspace | None = None) -> None:
        self._keys = keys
        # A grant is stamped when the script runs: waiting for replicas
        # (state.redis_min_replicas_acked) before the request leaves let it
        # reach the vendor that much later, closer to the next window's.  A
        # slot backs no 0: a failover may lose it.
        self._script = keys.script(TAKE_SLOT, backs_answers=False) if keys is not None else None
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
        if self._keys is None or self._script is None:
            window = SlidingWindow(rate, time.monotonic)
            if previous is not None:
                window.take_over(previous)
            return window
        return SharedWindow(
            rate, self._script, self._keys.key(kind, name), self._holder, self._grants
        )
