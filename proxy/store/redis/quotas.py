"""Quotas in Redis.

=====================================  ===========================================
``quota``                              hash: cpid -> segments used
``reserved:<token>``                   string: one reservation's answer, so a call
                                       run again reserves nothing (10 min)
=====================================  ===========================================
"""

from __future__ import annotations

import secrets

import structlog

from proxy.store.redis.connect import ReplicasBehind
from proxy.store.redis.keyspace import Keyspace

log = structlog.get_logger("smsproxy.redis")

RESERVE_QUOTA = """
-- KEYS[1] the usage hash, KEYS[2] this call's token; ARGV: cpid, segments, limit
-- A call run again (redis-py runs it once more after a lost connection)
-- answers as the first did, and reserves nothing more.
local before = redis.call('GET', KEYS[2])
if before then return tonumber(before) end
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local granted = 0
if used + tonumber(ARGV[2]) <= tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
  granted = 1
end
redis.call('SET', KEYS[2], granted, 'PX', 600000)
return granted
"""

RELEASE_QUOTA = """
-- KEYS[1] the usage hash; ARGV: cpid, segments
local used = redis.call('HGET', KEYS[1], ARGV[1])
if used then
  redis.call('HSET', KEYS[1], ARGV[1], math.max(0, tonumber(used) - tonumber(ARGV[2])))
end
return 0
"""


class RedisQuotas:
    def __init__(self, keys: Keyspace) -> None:
        self._redis = keys.client
        self._keys = keys
        self._key = keys.key("quota")
        self._reserve = keys.script(RESERVE_QUOTA)
        # A release lost in a failover leaves the quota counting a message not
        # sent (the safe side), and waiting for the replicas would not save it.
        self._release = keys.script(RELEASE_QUOTA, backs_answers=False)

    def __repr__(self) -> str:
        return f"<RedisQuotas {self._key!r}>"

    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        args = [cpid, str(segments), str(limit)]
        token = self._keys.key("reserved:", secrets.token_hex(8))
        try:
            return bool(await self._reserve(keys=[self._key, token], args=args))
        except ReplicasBehind as exc:
            # The send is refused busy (-15): what the master reserved goes back.
            if int(exc.answer):
                try:
                    await self.release_quota(cpid, segments)
                except Exception as undo:
                    log.warning("quota_not_released", segments=segments, error=repr(undo))
            raise

    async def release_quota(self, cpid: str, segments: int) -> None:
        await self._release(keys=[self._key], args=[cpid, str(segments)])

    async def quota_used(self, cpid: str) -> int:
        used = await self._redis.hget(self._key, cpid)
        return 0 if used is None else int(used)
