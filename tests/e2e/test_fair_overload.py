"""One client's flood of sends does not starve another client's (issue 14, item 7).

The daemon runs as its own process, as in production, so the flood's sockets
cost the test process's CPU and not the daemon's; the vendor is the esms100
simulator answering each send after 0.5 s.  One client opens thousands of
connections, writes a send on each at once, and a second client then sends
through the flood: each of its sends must be answered ``0`` within 2 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from config.loader import load_settings
from proxy.serve import Daemon
from tests.conftest import ADMIN_TOKEN
from tests.e2e.daemon_process import DaemonProcess, write_config

VENDOR_LATENCY_S = 0.5
ANSWER_WITHIN_S = 2.0
QUIET_SENDS = 10


class Account:
    def __init__(self, cpid: str, password: str) -> None:
        self.cpid = cpid
        self.password = password
        self.cppwd = hashlib.md5(password.encode()).hexdigest().upper()

    def request(self, phone: str, text: str) -> bytes:
        query = f"cpid={self.cpid}&cppwd={self.cppwd}&phone={phone}&msgtext={text}"
        return f"GET /mt/?{query} HTTP/1.1\r\nHost: sms\r\nConnection: close\r\n\r\n".encode()


FLOOD = Account("flood", "flood-pw-1")
QUIET = Account("quiet", "quiet-pw-2")


def answer_code(raw: bytes) -> str:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw[:200]
    return body.decode("ascii")


@pytest.fixture
async def vendor() -> AsyncIterator[SimulatorServer]:
    sim = Esms100Simulator(cpid="vendor-acct", password="vendor-pw")
    sim.faults.latency_s = VENDOR_LATENCY_S
    async with SimulatorServer(sim) as server:
        yield server


def configure(tmp_path: Path, vendor: SimulatorServer, legacy: dict[str, Any]) -> Path:
    config = tmp_path / "smsproxy.toml"
    write_config(
        config,
        {
            "listen": {"legacy": "127.0.0.1:0", "admin": "127.0.0.1:0", "push": "127.0.0.1:0"},
            "state": {"path": str(tmp_path / "state.sqlite3")},
            "admin": {"token": ADMIN_TOKEN},
            "shutdown": {"grace_s": 0.5},
            # Every send has its own text: none is a resend of another.
            "routing": {"dedup_window_s": 0},
            **({"legacy": legacy} if legacy else {}),
        },
        {
            "clients": [
                # Both may send far faster than this test does: the rate
                # limit (-15 too) must not be what protects the quiet client.
                {"cpid": a.cpid, "password": a.password, "rate_per_s": 1_000_000}
                for a in (FLOOD, QUIET)
            ],
            "vendors": [
                {
                    "kind": "esms100",
                    "name": "esms100",
                    "base_url": vendor.url,
                    "price_per_segment": 0.05,
                    "rate_per_s": 1_000_000,
                    "timeout_s": 10.0,
                    **vendor.simulator.credentials(),
                }
            ],
        },
    )
    return config


async def start_daemon(
    tmp_path: Path, vendor: SimulatorServer, legacy: dict[str, Any]
) -> DaemonProcess:
    daemon = DaemonProcess(configure(tmp_path, vendor, legacy), tmp_path)
    await daemon.start()
    return daemon


class Flood:
    """``count`` connections opened first (a few at a time, as the listen backlog
    allows), then a send written on every one of them at once."""

    def __init__(self, legacy_url: str, count: int) -> None:
        self.host, port = legacy_url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.count = count
        self.answers: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        gate = asyncio.Semaphore(64)

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            async with gate:
                return await asyncio.open_connection(self.host, self.port)

        connections = await asyncio.gather(*(connect() for _ in range(self.count)))
        for i, (reader, writer) in enumerate(connections):
            writer.write(FLOOD.request(f"138{i:08d}", f"flood{i}"))
            self._tasks.append(asyncio.create_task(self._read(reader, writer)))

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.answers.append(answer_code(await reader.read()))
        finally:
            writer.transport.abort()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def quiet_sends(legacy_url: str) -> list[tuple[str, float]]:
    """The quiet client's sends, one every 0.1 s, each on its own connection:
    each one's answer (``"late"`` if none within the bound) and how long it took."""
    host, port = legacy_url.removeprefix("http://").rsplit(":", 1)

    async def send(i: int) -> tuple[str, float]:
        await asyncio.sleep(0.1 * i)
        started = time.monotonic()
        try:
            async with asyncio.timeout(ANSWER_WITHIN_S):
                reader, writer = await asyncio.open_connection(host, int(port))
                try:
                    writer.write(QUIET.request(f"139{i:08d}", f"quiet{i}"))
                    answer = answer_code(await reader.read())
                finally:
                    writer.transport.abort()
        except TimeoutError:
            answer = "late"
        return answer, round(time.monotonic() - started, 2)

    return await asyncio.gather(*(send(i) for i in range(QUIET_SENDS)))


async def refused_busy(daemon: DaemonProcess) -> dict[tuple[str, str], float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(daemon.listening["admin"] + "/metrics") as resp,
    ):
        text = await resp.text()
    counts = {}
    for line in text.splitlines():
        if line.startswith("smsproxy_sends_refused_busy_total{"):
            labels, value = line.removeprefix("smsproxy_sends_refused_busy_total").split(" ")
            fields = dict(f.split("=") for f in labels.strip("{}").split(","))
            counts[(fields["client"].strip('"'), fields["reason"].strip('"'))] = float(value)
    return counts


async def run(daemon: DaemonProcess, flood_size: int) -> tuple[Flood, list[tuple[str, float]]]:
    flood = Flood(daemon.listening["legacy"], flood_size)
    try:
        await flood.start()
        await asyncio.sleep(0.2)  # the flood is in: the quiet client comes after it
        quiet = await quiet_sends(daemon.listening["legacy"])
    finally:
        await flood.stop()
    return flood, quiet


async def test_a_flood_beyond_the_clients_limit_is_refused_and_others_are_answered(
    tmp_path: Path, vendor: SimulatorServer
) -> None:
    # The default limits: 100 sends a client under way or waiting.
    daemon = await start_daemon(tmp_path, vendor, {})
    try:
        flood, quiet = await run(daemon, 3000)
        assert quiet == [("0", t) for _, t in quiet], quiet
        assert max(t for _, t in quiet) < ANSWER_WITHIN_S
        answers = Counter(flood.answers)
        # What the flood was not given a turn for it heard at once: -15, unsent.
        assert set(answers) <= {"0", "-15"}, answers
        assert answers["-15"] >= 3000 - 100 - answers["0"], answers
        assert answers["0"] >= 100, answers
        counts = await refused_busy(daemon)
        assert counts[("flood", "client_limit")] == answers["-15"]
        assert counts[("quiet", "client_limit")] == counts[("quiet", "saturated")] == 0
        # Thousands refused, a line or two in the log.
        told = [e for e in daemon.log_events() if e["event"] == "sends_refused_busy"]
        assert 1 <= len(told) <= 2, told
        assert "flood-pw-1" not in (tmp_path / "daemon-1.log").read_text()
    finally:
        await daemon.stop()


async def test_a_flood_waiting_for_turns_does_not_hold_up_another_clients_sends(
    tmp_path: Path, vendor: SimulatorServer
) -> None:
    # No per-client limit to speak of: fair turns alone keep the quiet client
    # going.  20 turns at 0.5 s a send: first come, first served, the quiet
    # client's first send would wait some 25 s behind the flood's 1,000.
    limits = {
        "max_sends_in_flight": 20,
        "max_sends_in_flight_per_client": 100_000,
        "max_sends_waiting": 300,
    }
    daemon = await start_daemon(tmp_path, vendor, limits)
    try:
        flood, quiet = await run(daemon, 1000)
        assert quiet == [("0", t) for _, t in quiet], quiet
        answers = Counter(flood.answers)
        assert set(answers) <= {"0", "-15"}, answers
        # 20 under way and 300 waiting; the others heard -15 at once.
        assert answers["-15"] >= 1000 - 20 - 300 - answers["0"], answers
        counts = await refused_busy(daemon)
        assert counts[("flood", "saturated")] == answers["-15"]
        assert counts[("flood", "client_limit")] == 0
        assert counts[("quiet", "saturated")] == 0
    finally:
        await daemon.stop()


async def test_a_reload_keeps_the_waiting_sends_and_applies_new_limits(
    tmp_path: Path, vendor: SimulatorServer
) -> None:
    vendor.simulator.faults.latency_s = 1.5  # the reload happens while the first two are out
    path = configure(tmp_path, vendor, {"max_sends_in_flight": 2})
    daemon = Daemon(load_settings(path), path)
    await daemon.start()
    try:
        admission = daemon.engine.admission
        legacy_url = daemon.legacy_url.removeprefix("http://").rsplit(":", 1)

        async def send(i: int) -> str:
            reader, writer = await asyncio.open_connection(legacy_url[0], int(legacy_url[1]))
            try:
                writer.write(QUIET.request(f"139{i:08d}", f"reload{i}"))
                return answer_code(await reader.read())
            finally:
                writer.transport.abort()

        started = time.monotonic()
        sends = [asyncio.ensure_future(send(i)) for i in range(4)]
        expected = "<FairAdmission in_flight=2/2 waiting=2/2000 clients_waiting=1>"
        for _ in range(100):  # the four read and admitted, however slow the machine
            await asyncio.sleep(0.02)
            if repr(admission) == expected:
                break
        assert repr(admission) == expected
        configure(tmp_path, vendor, {"max_sends_in_flight": 4})
        assert (await daemon.reload()).ok
        # The same turns and lines, with more turns: the two waiting go now.
        # (The reload returns once the old engine stopped, which may outlast
        # the first two sends: how many are under way by now varies.)
        assert daemon.engine.admission is admission
        assert admission.limits.in_flight == 4 and admission.waiting == 0
        assert await asyncio.gather(*sends) == ["0"] * 4
        # The waiting two did not wait for the first two: one round trip, not two.
        assert time.monotonic() - started < 2 * 1.5
        # Sends that began on the old engine gave their turns back to the kept one.
        assert admission.in_flight == admission.waiting == 0
    finally:
        await daemon.stop()
