"""A private redis-server for the tests: a free loopback port, nothing on disk.

Never the machine's own Redis (often on 6379): its data is not ours to flush,
and a test passing against it would prove nothing about a fresh CI machine.
Missing redis-server fails the tests that need it, rather than skipping
them: a skipped store engine is an untested one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

START_TIMEOUT_S = 10.0
ATTEMPTS = 3  # another process may take the free port before the server binds it


class RedisServer:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    def __repr__(self) -> str:
        return f"<RedisServer :{self.port} pid={self.process.pid}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_redis_server(workdir: Path) -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not installed: run ./dev test, which installs Debian's "
            "redis-server package (or: apt-get install redis-server)",
            pytrace=False,
        )
    for _ in range(ATTEMPTS):
        port = _free_port()
        # No RDB, no AOF, loopback only: a throwaway server the tests own.
        options = {
            "port": str(port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": str(workdir),
            "daemonize": "no",
            "loglevel": "warning",
        }
        argv = [binary] + [arg for name, value in options.items() for arg in (f"--{name}", value)]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        if _ready(process, port):
            return RedisServer(process, port)
        process.kill()
        process.wait()
    pytest.fail(f"redis-server did not start on a free loopback port in {ATTEMPTS} tries")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0)
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False  # e.g. the port was taken in the meantime
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                time.sleep(0.05)
        return False
    finally:
        client.close()
