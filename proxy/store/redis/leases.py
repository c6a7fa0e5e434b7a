"""Leases in Redis.

=====================================  ===========================================
``lease:<name>``                       string: the holder, expiring with the lease
=====================================  ===========================================
"""

from __future__ import annotations

from proxy.store.redis.keyspace import Keyspace

ACQUIRE_LEASE = """
-- KEYS[1] the lease; ARGV: holder, ttl (ms).  Taken when free or expired,
-- renewed when the holder asks again, refused to anyone else.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class RedisLeases:
    def __init__(self, keys: Keyspace) -> None:
        self._keys = keys
        self._acquire = keys.script(ACQUIRE_LEASE)

    def __repr__(self) -> str:
        return f"<RedisLeases prefix={self._keys.prefix!r}>"

    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        key = self._keys.key("lease:", name)
        # Redis expires the key on its own clock: daemons' clocks need not agree.
        return bool(await self._acquire(keys=[key], args=[holder, str(ttl_ms)]))
