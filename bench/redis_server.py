"""A private redis-server for the bench and the tests: a free loopback port, nothing on disk.

Never the machine's own Redis (often on 6379): its data is not ours to
flush, and a figure or a test passing against it would say nothing about a
fresh machine.  The bench runs one for the matcher and the reports workload
on Redis; the tests one a session (``tests/redis_server.py``).
"""

from __future__ import annotations

import functools
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from bench.procs import Child, ChildFailed

START_TIMEOUT_S = 10.0
ATTEMPTS = 3  # another process may take the free port before the server binds it


class RedisServerMissing(ChildFailed):
    pass


class RedisServer:
    def __init__(self, child: Child, port: int) -> None:
        self.child = child
        self.port = port

    def __repr__(self) -> str:
        return f"<RedisServer :{self.port} pid={self.child.pid}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.child.stop(grace_s=5.0)


def start_redis_server(workdir: Path, port: int | None = None) -> RedisServer:
    """On a free port, or on ``port`` (a stopped server's, to start it again)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisServerMissing("redis-server is not installed (apt-get install redis-server)")
    failure = ChildFailed("redis-server was never started")
    for _ in range(ATTEMPTS if port is None else 1):
        at = port or _free_port()
        # No RDB, no AOF, loopback only: a throwaway server its starter owns.
        options = {
            "port": str(at),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": str(workdir),
            "daemonize": "no",
            "loglevel": "warning",
        }
        argv = [binary] + [arg for name, value in options.items() for arg in (f"--{name}", value)]
        child = Child.start("redis-server", argv, log=workdir / "redis-server.log")
        client = redis.Redis(host="127.0.0.1", port=at, socket_timeout=1.0)
        try:
            child.wait_ready(functools.partial(_pong, client), START_TIMEOUT_S, interval_s=0.05)
            return RedisServer(child, at)
        except ChildFailed as exc:
            failure = exc  # e.g. the port was taken in the meantime
        finally:
            client.close()
    raise ChildFailed(
        f"redis-server did not start on a free loopback port in {ATTEMPTS} tries: {failure}"
    )


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A private redis-server's URL while the block runs."""
    server = start_redis_server(workdir)
    try:
        yield server.url
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pong(client: redis.Redis) -> bool | None:
    try:
        return True if client.ping() else None
    except redis.ConnectionError:
        return None
