"""The Redis store's connection pool: a bounded wait that says what ran out.

redis-py's :class:`~redis.asyncio.BlockingConnectionPool` waits for a free
connection (its default pool fails the call at once), and after its
``timeout`` raises a bare ``ConnectionError``, the same class as a server
that cannot be reached.  Here that one case is :class:`PoolExhausted`, a
:class:`~proxy.store.base.StoreBusy`: the call was never sent, which the
legacy port can answer busy rather than as an unexpected error.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from core.busy import StoreBusy


class PoolExhausted(RedisConnectionError, StoreBusy):
    """Every pooled connection stayed taken for the pool's whole wait.

    Still a redis ``ConnectionError``, for what catches those.
    """


class WaitingPool(BlockingConnectionPool):
    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        try:
            connection: AbstractConnection = await super().get_connection(  # type: ignore[no-untyped-call]
                *args, **kwargs
            )
            return connection
        except MaxConnectionsError as exc:
            raise PoolExhausted(f"all {self.max_connections} connections taken") from exc
        except RedisConnectionError as exc:
            # The wait's own time-out, not a failed connect (whose cause is an OSError).
            if isinstance(exc.__cause__, TimeoutError):
                raise PoolExhausted(
                    f"all {self.max_connections} connections taken for {self.timeout:g} s"
                ) from exc
            raise
