"""The tests' private redis-server (:mod:`bench.redis_server`), or a test failed with the remedy.

Missing redis-server fails the tests that need it, rather than skipping
them: a skipped store engine is an untested one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bench import redis_server
from bench.procs import ChildFailed
from bench.redis_server import RedisServer

__all__ = ["RedisServer", "start_redis_server", "writes_paused"]


def start_redis_server(workdir: Path, port: int | None = None) -> RedisServer:
    try:
        return redis_server.start_redis_server(workdir, port)
    except redis_server.RedisServerMissing:
        pytest.fail(
            "redis-server is not installed: run ./dev test, which installs Debian's "
            "redis-server package (or: apt-get install redis-server)",
            pytrace=False,
        )
    except ChildFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@contextlib.asynccontextmanager
async def writes_paused(url: str, ms: int) -> AsyncIterator[None]:
    """Redis holds every client's writes for ``ms`` (``CLIENT PAUSE ... WRITE``),
    or until the block ends: a Redis slow to answer, on demand."""
    raw = Redis.from_url(url)
    try:
        await raw.execute_command("CLIENT", "PAUSE", str(ms), "WRITE")
        yield
    finally:
        await raw.execute_command("CLIENT", "UNPAUSE")
        await raw.aclose()
