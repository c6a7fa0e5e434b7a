"""The store in Redis: what several daemons behind one load balancer share.

Every method is one Redis command or one Lua script, so it is as atomic as
the SQLite engine's transaction: two daemons taking one client's reports
hand each out once, a quota reservation never passes its limit, an inbox
key is taken once, an inbox row is settled once.  It needs Redis 6.2 or
newer (``ZADD GT``, ``ZMSCORE``), one server (alone, or a master with
replicas and Sentinel: :mod:`.connect`), not Redis Cluster: the scripts
build their key names from the prefix.

Durability is Redis's: run it with ``appendonly yes`` (and ``appendfsync
everysec`` or ``always``), or a Redis restart forgets the inbox and queues
that the vendors will not hand out again.

Every key is under the prefix (``state.redis_prefix``, default
``smsproxy:``).  Each role's module lists its keys: :mod:`.sends`
(``record:``, ``records``, ``to:``, ``unresolved``, ``reported:``),
:mod:`.claims` (``claim:``), :mod:`.inbox` (``inbox:``), :mod:`.queues`
(``queue:``), :mod:`.passwords` (``password``), :mod:`.quotas` (``quota``),
:mod:`.logins` (``login:``), :mod:`.leases` (``lease:``),
:mod:`.vendor_states` (``vendor:``, ``vendor-seen:``); ``seq`` is a hash
of the last id of each kind of row, which they share.  ``<…>`` in a key is
a value; a key has at most one value that comes from outside, at its end,
so no two values share a key.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from proxy.store.base import StoreUnavailable
from proxy.store.redis.claims import RedisClaims
from proxy.store.redis.connect import one_server
from proxy.store.redis.inbox import RedisInbox
from proxy.store.redis.keyspace import Keyspace
from proxy.store.redis.leases import RedisLeases
from proxy.store.redis.logins import RedisLoginCounter
from proxy.store.redis.passwords import RedisPasswords
from proxy.store.redis.queues import RedisQueues
from proxy.store.redis.quotas import RedisQuotas
from proxy.store.redis.sends import RedisSendLog
from proxy.store.redis.settlement import RedisSettlement
from proxy.store.redis.vendor_states import RedisVendorStates

DEFAULT_PREFIX = "smsproxy:"
CLOSE_S = 5.0  # the most closing the client may take

log = structlog.get_logger("smsproxy.store")
MIN_VERSION = (6, 2)


class RedisStore:
    def __init__(self, client: Redis, prefix: str, where: str) -> None:
        self.prefix = prefix
        self.where = where  # the server, without credentials: for repr and errors
        self._redis = client
        self._closed = False
        keys = Keyspace(client, prefix)
        self.keys = keys  # for what shares the client beside the store (proxy.rate_limits)
        self.sends = RedisSendLog(keys)
        self.claims = RedisClaims(keys)
        self.inbox = RedisInbox(keys)
        self.settlement = RedisSettlement(keys)
        self.queues = RedisQueues(keys)
        self.passwords = RedisPasswords(keys)
        self.quotas = RedisQuotas(keys)
        self.logins = RedisLoginCounter(keys)
        self.leases = RedisLeases(keys)
        self.vendor_states = RedisVendorStates(keys)

    def __repr__(self) -> str:
        return f"<RedisStore {self.where} prefix={self.prefix!r} open={not self._closed}>"

    @classmethod
    async def open(cls, url: str, prefix: str = DEFAULT_PREFIX) -> RedisStore:
        """The store on one server (``redis://``, ``rediss://``, ``unix://``)."""
        return await cls.connect(one_server(url), prefix, server_of(url))

    @classmethod
    async def connect(cls, client: Redis, prefix: str, where: str) -> RedisStore:
        """The store on ``client`` (:mod:`.connect` makes it), once the server is checked."""
        store = cls(client, prefix, where)
        try:
            await store._check_server()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StoreUnavailable(f"redis at {where}: {type(exc).__name__}: {exc}") from None
        except StoreUnavailable:
            await client.aclose()
            raise
        return store

    async def _check_server(self) -> None:
        info = await self._redis.info("server")
        version = str(info.get("redis_version", "0"))
        parts = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
        if parts < MIN_VERSION:
            raise StoreUnavailable(
                f"redis at {self.where} is version {version}; smsproxy needs 6.2 or newer"
            )

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            # Bounded: a connection cut while it was read can keep its close
            # waiting, and a daemon told to stop must stop.
            try:
                async with asyncio.timeout(CLOSE_S):
                    await self._redis.aclose()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("redis_close_unfinished", where=self.where, error=type(exc).__name__)

    async def ping(self) -> bool:
        if self._closed:  # the client would quietly reconnect
            return False
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False


def server_of(url: str) -> str:
    """The server a Redis URL names, without user or password."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return f"unix:{parts.path}"
        host = parts.hostname or "localhost"
        return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path}"
    except ValueError:
        return "(unreadable URL)"
