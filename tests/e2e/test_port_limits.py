"""The legacy, admin and push ports share one set of limits ([http], issue 14).

Before, only the legacy port had any: the admin and push ports were aiohttp's,
which times out neither a head nor a body and takes any number of connections.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from proxy.serve import Daemon
from tests.conftest import DaemonFactory, base_config

HTTP = {
    "max_head_bytes": 2048,
    "head_timeout_s": 0.5,
    "body_timeout_s": 0.5,
    "keepalive_s": 5,
    "max_connections": 16,
}
PORTS = ["legacy", "admin", "push"]


async def daemon_with_limits(start_daemon: DaemonFactory, tmp_path: Path) -> Daemon:
    return await start_daemon(base_config(tmp_path, http=HTTP))


def address(daemon: Daemon, port: str) -> tuple[str, int]:
    url: str = getattr(daemon, f"{port}_url")
    host, number = url.removeprefix("http://").rsplit(":", 1)
    return host, int(number)


async def status_of(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("port", PORTS)
async def test_every_port_caps_a_head_as_it_arrives(
    start_daemon: DaemonFactory, tmp_path: Path, port: str
) -> None:
    daemon = await daemon_with_limits(start_daemon, tmp_path)
    reader, writer = await asyncio.open_connection(*address(daemon, port))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"y" * 100_000)
    assert await status_of(reader) == b"HTTP/1.1 431 Request Header Fields Too Large"
    writer.close()


@pytest.mark.parametrize("port", PORTS)
async def test_every_port_times_out_a_slow_head_and_a_slow_body(
    start_daemon: DaemonFactory, tmp_path: Path, port: str
) -> None:
    daemon = await daemon_with_limits(start_daemon, tmp_path)
    slow_head = await asyncio.open_connection(*address(daemon, port))
    slow_head[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    slow_body = await asyncio.open_connection(*address(daemon, port))
    slow_body[1].write(b"POST /push/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
    for reader, writer in (slow_head, slow_body):
        assert await status_of(reader) == b"HTTP/1.1 408 Request Timeout"
        writer.close()


@pytest.mark.parametrize("port", PORTS)
async def test_every_port_refuses_connections_beyond_its_cap(
    start_daemon: DaemonFactory, tmp_path: Path, port: str
) -> None:
    daemon = await daemon_with_limits(start_daemon, tmp_path)
    held = [await asyncio.open_connection(*address(daemon, port)) for _ in range(16)]
    reader, writer = await asyncio.open_connection(*address(daemon, port))
    assert await status_of(reader) == b"HTTP/1.1 503 Service Unavailable"
    for _, w in [*held, (reader, writer)]:
        w.close()
