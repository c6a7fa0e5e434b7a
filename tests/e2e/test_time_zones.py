"""The host's time zone does not matter: vendors and legacy clients keep China time.

The daemon runs as a process of its own under ``TZ=UTC`` and under
``TZ=America/New_York``; so does this test process (the simulators in it
stand for vendors in China and must keep China time on any host).  Every
vendor's reports must match their sends, and the send times of ``/qreport/``
and the reply times of ``/mo/`` must be China time: the vendor's own clock.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.simulator import Simulator, SimulatorServer
from adapters.simulators import VENDOR_KINDS, VendorKind
from tests.conftest import ADMIN_TOKEN, CPID, DaemonFactory
from tests.conftest import PASSWORD as ACME_PASSWORD
from tests.e2e.daemon_process import DaemonProcess, toml_value
from tests.e2e.legacy_client import CHINA, LegacyClient
from tests.e2e.test_reports import KINDS, config, listen_for_pushes, vendor_entry

TEXT = "【ACME】您的验证码是 135790"
PASSWORD = "pass-word"


@pytest.fixture(params=["UTC", "America/New_York"])
def host_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This process in the zone too, so the simulators prove they do not follow it."""
    zone: str = request.param
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    assert time.localtime().tm_gmtoff != 8 * 3600  # not China: the point of the test
    yield zone
    monkeypatch.undo()
    time.tzset()


def cpid(kind: VendorKind) -> str:
    return f"c-{kind.kind}"


def phones(n: int) -> list[str]:
    # One pair of numbers per vendor: a reply goes to the client that sent to it.
    return [f"13{n}00138000", f"13{n}00139000"]


def config_text(tmp_path: Path, sims: dict[str, SimulatorServer]) -> str:
    """Every vendor, and one client per vendor routed to it alone."""
    lines = [
        "[listen]",
        'legacy = "127.0.0.1:0"',
        'admin = "127.0.0.1:0"',
        'push = "127.0.0.1:0"',
        "[state]",
        f"path = {toml_value(tmp_path / 'state.sqlite3')}",
        "[shutdown]",
        "grace_s = 1",
        "[admin]",
        f"token = {toml_value(ADMIN_TOKEN)}",
        "[reports]",
        "poll_interval_override_s = 0.1",
    ]
    for kind in VENDOR_KINDS:
        server = sims[kind.kind]
        lines += ["[[clients]]", f'cpid = "{cpid(kind)}"', f'password = "{PASSWORD}"']
        lines += ["rate_per_s = 100", "[[vendors]]", f'kind = "{kind.kind}"']
        lines += [f'name = "{kind.kind}"', f'base_url = "{server.url}"']
        lines += ["price_per_segment = 0.05", "timeout_s = 2.0"]
        for key, value in server.simulator.credentials().items():
            if value is not None:
                lines.append(f"{key} = {toml_value(value)}")
    for kind in VENDOR_KINDS:
        lines += ["[[rules]]", f'name = "{kind.kind}"', f'vendors = ["{kind.kind}"]']
        lines.append(f'match = {{ clients = ["{cpid(kind)}"] }}')
    return "\n".join(lines) + "\n"


@pytest.fixture
async def rig(
    tmp_path: Path, host_zone: str
) -> AsyncIterator[tuple[DaemonProcess, dict[str, Simulator]]]:
    servers = {kind.kind: SimulatorServer(kind.simulator()) for kind in VENDOR_KINDS}
    for server in servers.values():
        await server.start()
    path = tmp_path / "smsproxy.toml"
    path.write_text(config_text(tmp_path, servers), encoding="utf-8")
    daemon = DaemonProcess(path, tmp_path, env={"TZ": host_zone})
    try:
        await daemon.start()
        sims = {name: server.simulator for name, server in servers.items()}
        for name, sim in sims.items():
            sim.faults.push_url = f"{daemon.listening['push']}/push/{name}"
            sim.faults.report_delay_s = 0.05
        yield daemon, sims
    finally:
        await daemon.stop()
        for server in servers.values():
            await server.stop()


async def reports_and_replies_in_china_time(
    n: int, kind: VendorKind, sim: Simulator, client: LegacyClient
) -> None:
    numbers = phones(n)
    before = datetime.now(CHINA).replace(microsecond=0)
    assert await client.send(numbers, TEXT) == b"0", kind.kind
    reports = await client.wait_reports(2, within_s=8)
    assert sorted((r.phone, r.status) for r in reports) == [(p, 1) for p in numbers]
    sent = {m.phone: m.time for m in sim.accepted}
    for line in reports:
        assert before <= line.sent <= datetime.now(CHINA), (kind.kind, line, before)
        # Our send record, written just before the vendor took it: to the
        # second, the vendor's own stamp or a little before it.
        skew = line.sent - sent[line.phone]
        assert timedelta(seconds=-2) <= skew <= timedelta(0), (kind.kind, line, sent)

    before = datetime.now(CHINA).replace(second=0, microsecond=0)
    sim.inject_reply(numbers[1], f"收到 {kind.kind}")
    injected = sim.replies[-1].time
    [reply] = await client.wait_replies(1, within_s=8)
    assert (reply.phone, reply.text) == (numbers[1], f"收到 {kind.kind}")
    assert before <= reply.time <= datetime.now(CHINA), (kind.kind, reply, before)
    # /mo/ shows minutes; sms10000 gives no reply time, so ours (its arrival) is shown.
    assert abs(injected - reply.time) <= timedelta(seconds=61), (kind.kind, reply, injected)


async def test_every_vendor_in_china_time_whatever_the_hosts_zone(
    rig: tuple[DaemonProcess, dict[str, Simulator]], host_zone: str
) -> None:
    daemon, sims = rig
    assert os.environ["TZ"] == host_zone
    legacy = daemon.listening["legacy"]
    await asyncio.gather(
        *(
            reports_and_replies_in_china_time(
                n, kind, sims[kind.kind], LegacyClient(legacy, cpid(kind), PASSWORD)
            )
            for n, kind in enumerate(VENDOR_KINDS, start=3)
        )
    )
    counts = await daemon.inbox()
    assert counts.get("reports.matched") == 2 * len(VENDOR_KINDS), counts
    assert not [k for k in counts if "unmatched" in k or "pending" in k], counts


async def test_legacy_timezone_is_the_clients_clock(
    start_daemon: DaemonFactory, tmp_path: Path, host_zone: str
) -> None:
    london = ZoneInfo("Europe/London")
    sim = KINDS["chuanglan"].simulator()
    async with SimulatorServer(sim) as server:
        cfg = config(tmp_path, [vendor_entry("chuanglan", server)])
        cfg["legacy"] = {"timezone": "Europe/London"}
        daemon = await start_daemon(cfg)
        listen_for_pushes(sim, daemon, "chuanglan")
        client = LegacyClient(daemon.legacy_url, CPID, ACME_PASSWORD)
        assert await client.send("13800138000", TEXT) == b"0"
        [line] = await client.wait_reports(1)
        sim.inject_reply("13800138000", "好")
        injected = sim.replies[-1].time
        [reply] = await client.wait_replies(1)
    # The client reads bare wall clocks: in London, they are the vendor's stamps moved there.
    sent = london_wall(sim.accepted[0].time, london)
    assert timedelta(seconds=-2) <= naive(line.sent) - sent <= timedelta(0), (line, sent)
    said = london_wall(injected, london)
    assert abs(naive(reply.time) - said) <= timedelta(seconds=61), (reply, said)


def london_wall(t: datetime, london: ZoneInfo) -> datetime:
    return t.astimezone(london).replace(tzinfo=None)


def naive(t: datetime) -> datetime:
    """The wall clock the client read (the helper placed it in China)."""
    return t.replace(tzinfo=None)
