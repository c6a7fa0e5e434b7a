"""Failed logins counted in Redis, so every daemon of a store throttles alike.

Keys, under the store's prefix (``<…>`` is a value from outside, always at
the end):

================================  ============================================
``login:fail:a:<address>``        string: failures from the address, expiring
                                  ``login.window_s`` after the first
``login:fail:c:<cpid>``           string: failures for the cpid, likewise
``login:lock:a:<address>``        string: the address is locked out while it lives
``login:lock:c:<cpid>``           string: the cpid is locked out while it lives
``login:seen:<cpid>``             zset: addresses that logged in to the cpid, by
                                  the time (ms) a daemon last told
================================  ============================================

Counting is one script (count, then lock out at the limit, atomically);
asking is one pipelined round trip.  The daemons call them only for
failures and for keys with failures lately (:mod:`proxy.login_throttle`),
never on a plain successful login.
"""

from __future__ import annotations

from collections.abc import Sequence

from proxy.store.logins import LoginCount, LoginLimits, LoginLocks
from proxy.store.redis.keyspace import Keyspace

# ARGV: prefix, address, cpid, window ms, lock-out ms, max per address, max per client.
# Returns {address lock ms, client lock ms, address locked at, client locked at}.
COUNT_FAILURE = """
local p = ARGV[1]
local function count(scope, name, max)
  local lock = p .. 'login:lock:' .. scope .. ':' .. name
  local left = redis.call('PTTL', lock)
  if left > 0 then return left, 0 end
  local fails = p .. 'login:fail:' .. scope .. ':' .. name
  local n = redis.call('INCR', fails)
  if n == 1 then redis.call('PEXPIRE', fails, ARGV[4]) end
  if n < max then return 0, 0 end
  -- Locked out: the count starts afresh once the lock-out ends.
  redis.call('SET', lock, n, 'PX', ARGV[5])
  redis.call('DEL', fails)
  return tonumber(ARGV[5]), n
end
local a_ms, a_at = count('a', ARGV[2], tonumber(ARGV[6]))
local c_ms, c_at = count('c', ARGV[3], tonumber(ARGV[7]))
return {a_ms, c_ms, a_at, c_at}
"""


class RedisLoginCounter:
    def __init__(self, keys: Keyspace) -> None:
        self._redis = keys.client
        self._prefix = keys.prefix
        self._count_failure = keys.script(COUNT_FAILURE)

    def __repr__(self) -> str:
        return f"<RedisLoginCounter prefix={self._prefix!r}>"

    async def count_failure(self, cpid: str, address: str, limits: LoginLimits) -> LoginCount:
        args = [
            self._prefix,
            address,
            cpid,
            str(limits.window_ms),
            str(limits.lockout_ms),
            str(limits.max_per_address),
            str(limits.max_per_client),
        ]
        a_ms, c_ms, a_at, c_at = await self._count_failure(args=args)
        return LoginCount(int(a_ms), int(c_ms), int(a_at), int(c_at))

    async def locks(self, cpid: str, address: str, known_since_ms: int) -> LoginLocks:
        p = self._prefix
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.pttl(f"{p}login:lock:a:{address}")
            pipe.pttl(f"{p}login:lock:c:{cpid}")
            pipe.zscore(f"{p}login:seen:{cpid}", address)
            address_ms, client_ms, seen = await pipe.execute()
        # PTTL is -2 for no key (no lock-out).
        known = seen is not None and float(seen) >= known_since_ms
        return LoginLocks(max(0, int(address_ms)), max(0, int(client_ms)), known)

    async def remember(self, logins: Sequence[tuple[str, str]], now_ms: int, keep_ms: int) -> None:
        if not logins:
            return
        p = self._prefix
        async with self._redis.pipeline(transaction=False) as pipe:
            for cpid, address in logins:
                pipe.zadd(f"{p}login:seen:{cpid}", {address: now_ms})
            for cpid in {cpid for cpid, _ in logins}:
                key = f"{p}login:seen:{cpid}"
                pipe.zremrangebyscore(key, "-inf", now_ms - keep_ms)
                pipe.pexpire(key, keep_ms)
            await pipe.execute()
