"""Passwords in Redis.

=====================================  ===========================================
``password``                           hash: cpid -> password set through /ent/ (salted)
=====================================  ===========================================
"""

from __future__ import annotations

from proxy.store.redis.keyspace import Keyspace

REPLACE_DIGEST = """
-- KEYS[1] the password hash; ARGV: cpid, the stored password it must still
-- be, its replacement.  1 when replaced.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


class RedisPasswords:
    def __init__(self, keys: Keyspace) -> None:
        self._redis = keys.client
        self._key = keys.key("password")
        self._replace = keys.script(REPLACE_DIGEST)

    def __repr__(self) -> str:
        return f"<RedisPasswords {self._key!r}>"

    async def password_digest(self, cpid: str) -> str | None:
        digest = await self._redis.hget(self._key, cpid)
        return None if digest is None else str(digest)

    async def set_password_digest(self, cpid: str, digest: str) -> None:
        await self._redis.hset(self._key, cpid, digest)

    async def replace_password_digest(self, cpid: str, old: str, new: str) -> bool:
        return bool(await self._replace(keys=[self._key], args=[cpid, old, new]))

    async def drop_password_digest(self, cpid: str) -> bool:
        return bool(await self._redis.hdel(self._key, cpid))
