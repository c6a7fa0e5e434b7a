"""The ``[state]`` section: where the shared state lives, SQLite or Redis (plain or Sentinel)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from config.redis_target import (
    DEFAULT_SENTINEL_PORT,
    SENTINEL_SCHEME,
    RedisTarget,
    parse_host_port,
    parse_sentinel_url,
)
from config.secret import Secret

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class StateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    engine: Literal["sqlite", "redis"] = Field(
        "sqlite", description="sqlite: one daemon; redis: several daemons sharing the state"
    )
    path: Path = Field(Path("smsproxy.sqlite3"), description="SQLite state file")
    # A secret: the URL may carry the Redis password (redis://:PASSWORD@host:6379/0).
    redis_url: Secret | None = Field(None, description="the Redis server, when engine is redis")
    redis_prefix: str = Field(
        "smsproxy:",
        min_length=1,
        max_length=100,
        pattern=r"^\S+$",
        description="every key starts with it: daemons sharing state use the same",
    )
    daemon_name: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^\S+$",
        description="this daemon's name in what daemons share (/admin/vendors), kept across"
        " restarts; none: host:pid",
    )

    # Redis with Sentinel: the sentinels to ask which server is the master now.
    redis_sentinels: list[str] = Field(
        default_factory=list,
        description="HOST:PORT of each sentinel (or a redis+sentinel:// redis_url)",
    )
    redis_sentinel_master: str | None = Field(
        None, min_length=1, max_length=200, description="the master's name in the sentinels"
    )
    redis_sentinel_password: Secret | None = Field(
        None, description="the sentinels' own password (their requirepass), if any"
    )
    redis_password: Secret | None = Field(
        None, description="the master's password, when the sentinels are listed"
    )
    redis_db: int = Field(0, ge=0, le=10_000, description="the database, with redis_sentinels")
    redis_failover_wait_s: float = Field(
        10.0,
        ge=0,
        le=120,
        description="a Redis call that finds no master waits this long for the sentinels"
        " to name a new one (a failover takes a few seconds)",
    )
    redis_min_replicas_acked: int = Field(
        0,
        ge=0,
        le=16,
        description="writes backing a 0 answer wait (WAIT) until this many replicas have"
        " them; 0: do not wait (asynchronous replication)",
    )
    redis_replica_ack_timeout_ms: int = Field(
        100, ge=1, le=10_000, description="how long such a write waits for its replicas"
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        # The message must not echo the value: it may hold the password.
        if value is None:
            return value
        url = value.get_secret_value()
        if url.startswith(SENTINEL_SCHEME):
            parse_sentinel_url(url)  # its errors never quote the URL
        elif not url.startswith(REDIS_SCHEMES):
            raise ValueError(f"must start with {', '.join((*REDIS_SCHEMES, SENTINEL_SCHEME))}")
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, value: list[str]) -> list[str]:
        for i, entry in enumerate(value):
            try:
                parse_host_port(entry, DEFAULT_SENTINEL_PORT)
            except ValueError as exc:
                raise ValueError(f"[{i}] {entry!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_redis(self) -> StateSettings:
        if self.redis_sentinels and self.redis_url is not None:
            raise ValueError(
                "state.redis_sentinels: give the sentinels or state.redis_url, not both"
            )
        if self.redis_sentinels and self.redis_sentinel_master is None:
            raise ValueError(
                "state.redis_sentinel_master: required when state.redis_sentinels is set"
            )
        if self.redis_sentinel_master is not None and not self.redis_sentinels:
            raise ValueError("state.redis_sentinels: required with state.redis_sentinel_master")
        if self.redis_password is not None and not self.redis_sentinels:
            raise ValueError(
                "state.redis_password: only with state.redis_sentinels"
                " (a redis_url carries its own password)"
            )
        return self

    def redis_target(self) -> RedisTarget | None:
        """Where the Redis store is, or None when none is configured."""
        if self.redis_sentinels:
            return RedisTarget(
                sentinels=tuple(
                    parse_host_port(s, DEFAULT_SENTINEL_PORT) for s in self.redis_sentinels
                ),
                master=self.redis_sentinel_master or "",
                db=self.redis_db,
                password=None
                if self.redis_password is None
                else self.redis_password.get_secret_value(),
            )
        if self.redis_url is None:
            return None
        url = self.redis_url.get_secret_value()
        if url.startswith(SENTINEL_SCHEME):
            return parse_sentinel_url(url)
        return RedisTarget(url=url)
