"""Open the store engine ``[state]`` names: the one place that chooses."""

from __future__ import annotations

from config.settings import StateSettings
from proxy.store.base import Store
from proxy.store.redis.connect import through_sentinels
from proxy.store.redis.store import RedisStore
from proxy.store.sqlite.store import SqliteStore


async def open_store(settings: StateSettings) -> Store:
    if settings.engine == "redis":
        target = settings.redis_target()
        if target is None:  # refused by config validation; kept for mypy
            raise ValueError('state.redis_url: required when state.engine is "redis"')
        if target.url is not None:
            return await RedisStore.open(target.url, prefix=settings.redis_prefix)
        secret = settings.redis_sentinel_password
        client = through_sentinels(
            target,
            None if secret is None else secret.get_secret_value(),
            settings.redis_failover_wait_s,
            settings.redis_min_replicas_acked,
            settings.redis_replica_ack_timeout_ms,
        )
        return await RedisStore.connect(client, settings.redis_prefix, target.where())
    return await SqliteStore.open(settings.path, alone=True)
