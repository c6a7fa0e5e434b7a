"""The tests' private redis-server (:mod:`bench.redis_server`), or a test failed with the remedy.

Missing redis-server fails the tests that need it, rather than skipping
them: a skipped store engine is an untested one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import redis_server
from bench.procs import ChildFailed
from bench.redis_server import RedisServer

__all__ = ["RedisServer", "start_redis_server"]


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
