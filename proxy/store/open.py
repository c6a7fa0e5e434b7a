"""Open the store engine ``[state]`` names: the one place that chooses."""

from __future__ import annotations

from config.settings import StateSettings
from proxy.store.base import Store
from proxy.store.redis.store import RedisStore
from proxy.store.sqlite.store import SqliteStore


async def open_store(settings: StateSettings) -> Store:
    if settings.engine == "redis":
        if settings.redis_url is None:  # refused by config validation; kept for mypy
            raise ValueError('state.redis_url: required when state.engine is "redis"')
        return await RedisStore.open(
            settings.redis_url.get_secret_value(), prefix=settings.redis_prefix
        )
    return await SqliteStore.open(settings.path)
