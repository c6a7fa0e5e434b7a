"""A private tinyproxy for the tests: a free loopback port, a generated config, its own log.

Debian's tinyproxy, the egress proxy a company would put between smsproxy
and its vendors, installed by ./dev test.  It opens its connections to the
vendors from 127.0.0.2 (``Bind``): a vendor that sees that peer was reached
through the proxy, one that sees 127.0.0.1 was called directly.  Its log
(``LogLevel Connect``) has a line for each request and each CONNECT.
Missing tinyproxy fails the tests that need it rather than skipping them,
as with redis-server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

START_TIMEOUT_S = 10.0
ATTEMPTS = 3  # another process may take the free port before tinyproxy binds it
# The address the proxy's connections to vendors come from.
EGRESS_ADDRESS = "127.0.0.2"


class Tinyproxy:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        log_path: Path,
        credentials: tuple[str, str] | None,
    ) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.credentials = credentials

    def __repr__(self) -> str:
        return f"<Tinyproxy :{self.port} pid={self.process.pid}>"

    def url(self, credentials: tuple[str, str] | None = None) -> str:
        """The proxy's URL, with ``credentials`` (default: its own, if it wants some)."""
        user_info = credentials or self.credentials
        at = f"{user_info[0]}:{user_info[1]}@" if user_info else ""
        return f"http://{at}127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def requests(self) -> list[str]:
        """The request lines the proxy was sent, oldest first ("CONNECT host:port HTTP/1.1")."""
        marker = "]: Request (file descriptor "
        return [line.split("): ", 1)[1] for line in self.log().splitlines() if marker in line]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_tinyproxy(workdir: Path, credentials: tuple[str, str] | None = None) -> Tinyproxy:
    binary = shutil.which("tinyproxy")
    if binary is None:
        pytest.fail(
            "tinyproxy is not installed: run ./dev test, which installs Debian's "
            "tinyproxy package (or: apt-get install tinyproxy)",
            pytrace=False,
        )
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(ATTEMPTS):
        port = _free_port()
        log_path = workdir / f"tinyproxy-{port}.log"
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            f"Bind {EGRESS_ADDRESS}",
            "Timeout 30",
            f'LogFile "{log_path}"',
            "LogLevel Connect",
            "MaxClients 100",
        ]
        if credentials is not None:
            lines.append(f"BasicAuth {credentials[0]} {credentials[1]}")
        config = workdir / f"tinyproxy-{attempt}.conf"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # -d: in the foreground, ours to stop.  A fixed command line, no shell.
        process = subprocess.Popen(  # noqa: S603
            [binary, "-d", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _ready(process, port):
            return Tinyproxy(process, port, log_path, credentials)
        process.kill()
        process.wait()
    pytest.fail(f"tinyproxy did not start on a free loopback port in {ATTEMPTS} tries")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False  # e.g. the port was taken in the meantime
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.02)
    return False
