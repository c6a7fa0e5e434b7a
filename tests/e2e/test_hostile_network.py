"""A hostile network costs legitimate clients nothing (issue 14, "done when").

The daemon runs as a process of its own, so its memory can be read from
``/proc`` and the attackers' sockets cost this process's CPU, not the
daemon's.  While one connection writes a header line that never ends (up to
64 MiB) and 300 more trickle a head a byte at a time, a legitimate client
sends: every send must be answered ``0`` within 2 s, and the daemon's memory
must grow by less than 50 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from tests.conftest import ADMIN_TOKEN
from tests.e2e.daemon_process import DaemonProcess, write_config

CPID, PASSWORD = "acme", "acme-pass-1"
CPPWD = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
SLOW_CONNECTIONS = 300
ENDLESS_HEADER_BYTES = 64 * 1024 * 1024
ANSWER_WITHIN_S = 2.0
MAX_GROWTH_BYTES = 50 * 1024 * 1024


@pytest.fixture
async def vendor() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(Esms100Simulator(cpid="v", password="v-pw")) as server:
        yield server


@pytest.fixture
async def daemon(tmp_path: Path, vendor: SimulatorServer) -> AsyncIterator[DaemonProcess]:
    config = tmp_path / "smsproxy.toml"
    write_config(
        config,
        {
            "listen": {"legacy": "127.0.0.1:0", "admin": "127.0.0.1:0", "push": "127.0.0.1:0"},
            "state": {"path": str(tmp_path / "state.sqlite3")},
            "admin": {"token": ADMIN_TOKEN},
            "shutdown": {"grace_s": 0.5},
        },
        {
            "clients": [{"cpid": CPID, "password": PASSWORD, "rate_per_s": 1000}],
            "vendors": [
                {
                    "kind": "esms100",
                    "name": "esms100",
                    "base_url": vendor.url,
                    "price_per_segment": 0.05,
                    "rate_per_s": 1000,
                    **vendor.simulator.credentials(),
                }
            ],
        },
    )
    process = DaemonProcess(config, tmp_path)
    await process.start()
    yield process
    await process.stop()


def rss_bytes(process: DaemonProcess) -> int:
    assert process.proc is not None
    status = Path(f"/proc/{process.proc.pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) * 1024


def address(process: DaemonProcess) -> tuple[str, int]:
    host, port = process.listening["legacy"].removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def endless_header(host: str, port: int) -> int:
    """Write one header line that never ends; the bytes written before the daemon shut us out."""
    _, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /mt/ HTTP/1.1\r\nHost: sms\r\nX-Endless: ")
    chunk = b"y" * 65536
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < ENDLESS_HEADER_BYTES:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    writer.transport.abort()
    return sent


async def slow_heads(host: str, port: int, stop: asyncio.Event) -> int:
    """Connections that trickle a head a byte every half second; how many got in."""
    connections = []
    for _ in range(SLOW_CONNECTIONS):
        with contextlib.suppress(OSError):
            connections.append((await asyncio.open_connection(host, port))[1])
    head = b"GET /mt/?cpid=x HTTP/1.1\r\nHost: sms\r\nX-Slow: " + b"z" * 1000
    for byte in head:
        if stop.is_set():
            break
        for writer in connections:
            with contextlib.suppress(ConnectionError):
                writer.write(bytes([byte]))
        await asyncio.sleep(0.5)
    for writer in connections:
        writer.transport.abort()
    return len(connections)


async def legitimate_send(host: str, port: int, i: int) -> tuple[str, float]:
    started = time.monotonic()
    query = f"cpid={CPID}&cppwd={CPPWD}&phone=138{i:08d}&msgtext=code{i}"
    try:
        async with asyncio.timeout(ANSWER_WITHIN_S):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET /mt/?{query} HTTP/1.1\r\nHost: sms\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            answer = (await reader.readexactly(length)).decode()
            writer.transport.abort()
    except TimeoutError:
        answer = "late"
    return answer, time.monotonic() - started


async def test_an_endless_header_and_slow_heads_cost_legitimate_sends_nothing(
    daemon: DaemonProcess,
) -> None:
    host, port = address(daemon)
    before = rss_bytes(daemon)
    stop = asyncio.Event()
    slow = asyncio.create_task(slow_heads(host, port, stop))
    endless = asyncio.create_task(endless_header(host, port))
    await asyncio.sleep(0.5)
    answers = []
    for i in range(20):
        answers.append(await legitimate_send(host, port, i))
        await asyncio.sleep(0.1)
    sent = await endless
    peak = rss_bytes(daemon)
    stop.set()
    assert await slow == SLOW_CONNECTIONS
    assert [a for a, _ in answers] == ["0"] * 20, answers
    assert sent < ENDLESS_HEADER_BYTES  # shut out well before the line would have ended
    assert peak - before < MAX_GROWTH_BYTES, (before, peak)
