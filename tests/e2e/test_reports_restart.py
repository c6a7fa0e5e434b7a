"""Reports and replies survive a daemon killed with SIGKILL: none lost, none twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.chuanglan.simulator import ChuanglanSimulator
from adapters.simulator import Simulator, SimulatorServer
from adapters.simulators import VENDOR_KINDS
from adapters.sms10000.simulator import Sms10000Simulator
from proxy.legacy import HOLD_MS
from proxy.store.sqlite.store import SqliteStore
from tests.conftest import ADMIN_TOKEN
from tests.e2e.daemon_process import DaemonProcess, free_port, write_config
from tests.e2e.legacy_client import LegacyClient

CPID, PASSWORD = "acme", "acme-pass"
TEXT = "【ACME】您的验证码是 135790"
KINDS = {vk.kind: vk for vk in VENDOR_KINDS}

Rig = tuple[Simulator, DaemonProcess, LegacyClient]
RigFactory = Callable[[str], Any]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    """A vendor simulator in this process, the daemon in another, on ports that stay."""
    servers: list[SimulatorServer] = []
    daemons: list[DaemonProcess] = []

    async def make(kind: str) -> Rig:
        sim = KINDS[kind].simulator()
        server = SimulatorServer(sim)
        await server.start()
        servers.append(server)
        ports = {name: free_port() for name in ("legacy", "admin", "push")}
        vendor = {
            "kind": kind,
            "name": kind,
            "base_url": server.url,
            "price_per_segment": 0.05,
            "timeout_s": 2.0,
            **sim.credentials(),
        }
        config = tmp_path / "smsproxy.toml"
        write_config(
            config,
            {
                "listen": {name: f"127.0.0.1:{port}" for name, port in ports.items()},
                "state": {"path": str(tmp_path / "state.sqlite3")},
                "shutdown": {"grace_s": 1},
                "admin": {"token": ADMIN_TOKEN},
                "reports": {"poll_interval_override_s": 0.1},
            },
            {
                "clients": [{"cpid": CPID, "password": PASSWORD, "rate_per_s": 100}],
                "vendors": [vendor],
            },
        )
        daemon = DaemonProcess(config, tmp_path)
        daemons.append(daemon)
        await daemon.start()
        sim.faults.push_url = f"http://127.0.0.1:{ports['push']}/push/{kind}"
        return sim, daemon, LegacyClient(f"http://127.0.0.1:{ports['legacy']}", CPID, PASSWORD)

    yield make
    for daemon in daemons:
        await daemon.stop()
    for server in servers:
        await server.stop()


async def until(check: Callable[[], Any], within_s: float = 10.0) -> None:
    for _ in range(int(within_s / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not within time")


@pytest.mark.parametrize("kind", ["chuanglan", "sms10000"])
async def test_killed_between_a_push_and_the_clients_poll(kind: str, rig: RigFactory) -> None:
    sim, daemon, client = await rig(kind)
    sim.faults.report_delay_s = 0.05
    phones = ["13800138000", "13900139000"]
    assert await client.send(phones, TEXT) == b"0"
    sim.inject_reply("13900139000", "收到")

    async def stored() -> bool:
        counts = await daemon.inbox()
        return counts.get("reports.matched") == 2 and counts.get("replies.delivered") == 1

    await until(stored)  # the vendor has been answered: only our disk has them
    daemon.kill()
    await daemon.wait_dead()
    await daemon.start()
    reports = await client.wait_reports(2)
    assert sorted((r.phone, r.status) for r in reports) == [(p, 1) for p in phones]
    assert [(r.phone, r.text) for r in await client.wait_replies(1)] == [("13900139000", "收到")]
    await asyncio.sleep(0.3)
    assert await client.call("/qreport/") == b"0"
    assert await client.call("/mo/") == b"0"


@pytest.mark.parametrize("kind", ["chuanglan", "sms10000"])
async def test_pushes_to_a_dead_daemon_arrive_once_it_is_back(kind: str, rig: RigFactory) -> None:
    sim, daemon, client = await rig(kind)
    patient(sim)
    sim.faults.report_delay_s = 0.5
    assert await client.send("13800138000", TEXT) == b"0"
    daemon.kill()  # before the report is pushed
    await daemon.wait_dead()
    await asyncio.sleep(1.0)  # the vendor pushes, and pushes again
    await daemon.start()
    assert [(r.phone, r.status) for r in await client.wait_reports(1)] == [("13800138000", 1)]
    await asyncio.sleep(0.3)
    assert await client.call("/qreport/") == b"0"


def patient(sim: Simulator) -> None:
    """Let a pushing simulator retry for longer than a restart takes."""
    if isinstance(sim, ChuanglanSimulator):
        sim.push_retry_delays_s = (0.3,) * 40
    if isinstance(sim, Sms10000Simulator):
        sim.push_attempts, sim.push_backoff_s = 8, 0.2  # doubling: 0.2 … 12.8 s


async def test_killed_while_many_reports_are_pushed(rig: RigFactory) -> None:
    sim, daemon, client = await rig("chuanglan")
    patient(sim)
    sim.push_concurrency = 2  # type: ignore[misc]  # a slower stream, to die in the middle of
    phones = [f"139{i:08d}" for i in range(300)]
    sim.faults.report_delay_s = 0.3
    assert await client.send(phones, TEXT) == b"0"
    seen: Counter[str] = Counter()

    async def some_taken() -> bool:
        seen.update(r.phone for r in await client.reports())
        return len(seen) >= 20

    await until(some_taken)  # the client has some; pushes are still coming
    daemon.kill()
    await daemon.wait_dead()
    await daemon.start()

    async def all_taken() -> bool:
        seen.update(r.phone for r in await client.reports())
        return len(seen) >= len(phones)

    await until(all_taken, within_s=20)
    await asyncio.sleep(0.5)
    seen.update(r.phone for r in await client.reports())
    assert sorted(seen) == phones
    assert set(seen.values()) == {1}, [p for p, n in seen.items() if n > 1]
    assert sim.push_failures == 0  # type: ignore[attr-defined]
    assert await daemon.inbox() == {"reports.matched": len(phones)}
    # It did die in the middle: the first run settled only part of them.
    settled = [e["queued"] for e in daemon.log_events(1) if e["event"] == "reports_settled"]
    assert sum(settled) < len(phones)


async def test_killed_mid_poll(rig: RigFactory) -> None:
    sim, daemon, client = await rig("esms100")
    sim.faults.report_delay_s = 2.0
    assert await client.send("13800138000", TEXT) == b"0"
    # The vendor takes our next polls and sits on them; we die waiting.
    sim.faults.hang = True
    requests = sim.requests

    async def polled() -> bool:
        return sim.requests >= requests + 2  # reports and replies

    await until(polled)
    daemon.kill()
    await daemon.wait_dead()
    # The vendor answers the dead polls at last: nothing was due yet, so
    # nothing is lost with them (what a vendor hands to a dead poller is).
    sim.faults.hang = False
    sim._release.set()
    await daemon.start()
    sim.inject_reply("13800138000", "好")
    assert [(r.phone, r.status) for r in await client.wait_reports(1)] == [("13800138000", 1)]
    assert [r.text for r in await client.wait_replies(1)] == ["好"]
    await asyncio.sleep(0.3)
    assert await client.call("/qreport/") == b"0"
    assert await client.call("/mo/") == b"0"


async def test_a_batch_held_for_a_client_when_killed_is_read_again_at_once(
    rig: RigFactory, tmp_path: Path
) -> None:
    """Killed while it wrote a /qreport/ or /mo/ answer, the daemon left the batch
    held for HOLD_MS (30 s); the daemon after it hands it out again at once."""
    sim, daemon, client = await rig("esms100")
    sim.faults.report_delay_s = 0.05
    assert await client.send(["13800138000", "13900139000"], TEXT) == b"0"
    sim.inject_reply("13900139000", "收到")

    async def stored() -> bool:
        counts = await daemon.inbox()
        return counts.get("reports.matched") == 2 and counts.get("replies.delivered") == 1

    await until(stored)
    daemon.kill()
    await daemon.wait_dead()
    # What the daemon had done when it died in the middle of the answers:
    # held each batch, as /qreport/ and /mo/ do before they write.
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        _, held = await store.queues.hold_reports(CPID, 100, HOLD_MS)
        _, replies = await store.queues.hold_replies(CPID, 100, HOLD_MS)
    finally:
        await store.close()
    assert (len(held), len(replies)) == (2, 1)
    await daemon.start()
    reports = await client.wait_reports(2, within_s=5.0)
    assert sorted(r.phone for r in reports) == ["13800138000", "13900139000"]
    assert [r.text for r in await client.wait_replies(1, within_s=5.0)] == ["收到"]
    assert [e["items"] for e in daemon.log_events(2) if e["event"] == "queued_holds_released"] == [
        3
    ]
    await asyncio.sleep(0.3)
    assert await client.call("/qreport/") == b"0"
    assert await client.call("/mo/") == b"0"
