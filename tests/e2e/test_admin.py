"""The admin API and config reload, against a daemon and simulators over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from config.loader import load_settings
from proxy.serve import Daemon
from tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN, CPID, PASSWORD
from tests.e2e.daemon_process import DaemonProcess, write_config

CPPWD = hashlib.md5(PASSWORD.encode()).hexdigest().upper()


@pytest.fixture
async def pair() -> AsyncIterator[tuple[SimulatorServer, SimulatorServer]]:
    async with (
        SimulatorServer(Esms100Simulator("a", "pa")) as cheap,
        SimulatorServer(Esms100Simulator("b", "pb")) as dear,
    ):
        yield cheap, dear


def write(
    path: Path,
    cheap: SimulatorServer,
    dear: SimulatorServer,
    vendor_over: dict[str, dict[str, Any]] | None = None,
    **over: Any,
) -> Path:
    vendors = [
        {
            "kind": "esms100",
            "name": "cheap",
            "base_url": cheap.url,
            "price_per_segment": 0.03,
            "cpid": "a",
            "password": "pa",
            "timeout_s": 3,
        },
        {
            "kind": "esms100",
            "name": "dear",
            "base_url": dear.url,
            "price_per_segment": 0.05,
            "cpid": "b",
            "password": "pb",
            "timeout_s": 3,
        },
    ]
    for vendor in vendors:
        vendor.update((vendor_over or {}).get(vendor["name"], {}))
    sections = {
        "listen": {"legacy": "127.0.0.1:0", "admin": "127.0.0.1:0", "push": "127.0.0.1:0"},
        "state": {"path": str(path.parent / "state.sqlite3")},
        "admin": {"token": ADMIN_TOKEN},
        **over,
    }
    write_config(
        path, sections, {"clients": [{"cpid": CPID, "password": PASSWORD}], "vendors": vendors}
    )
    return path


@pytest.fixture
async def daemon(
    tmp_path: Path, pair: tuple[SimulatorServer, SimulatorServer]
) -> AsyncIterator[Daemon]:
    path = write(tmp_path / "smsproxy.toml", *pair)
    daemon = Daemon(load_settings(path), path)
    await daemon.start()
    yield daemon
    await daemon.stop()


async def admin(
    daemon: Daemon, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=ADMIN_HEADERS if headers is None else headers) as session,
        session.request(method, daemon.admin_url + path) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def send(daemon: Daemon, text: str, phone: str = "13800138000") -> bytes:
    query = f"cpid={CPID}&cppwd={CPPWD}&phone={phone}&msgtext={text}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{daemon.legacy_url}/mt/?{query}") as resp,
    ):
        return await resp.read()


async def test_the_token_is_required(daemon: Daemon) -> None:
    assert (await admin(daemon, "GET", "/admin/vendors", headers={}))[0] == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await admin(daemon, "GET", "/admin/vendors", headers=wrong))[0] == 401
    assert (await admin(daemon, "GET", "/reports/unmatched", headers={}))[0] == 401
    async with aiohttp.ClientSession() as session:
        for open_path in ("/metrics", "/healthz", "/readyz"):
            async with session.get(daemon.admin_url + open_path) as resp:
                assert resp.status == 200


async def test_list_drain_and_enable(
    daemon: Daemon, pair: tuple[SimulatorServer, SimulatorServer]
) -> None:
    cheap, dear = pair
    status, body = await admin(daemon, "GET", "/admin/vendors")
    assert status == 200
    assert [(v["name"], v["state"], v["price_per_segment"]) for v in body["vendors"]] == [
        ("cheap", "routable", 0.03),
        ("dear", "routable", 0.05),
    ]
    status, body = await admin(daemon, "POST", "/admin/vendors/cheap/drain")
    assert (status, body["state"], body["reason"], body["held_by_operator"]) == (
        200,
        "drained",
        "operator",
        True,
    )
    assert await send(daemon, "one") == b"0"
    assert dear.simulator.phones_of("one") == ["13800138000"]
    assert cheap.simulator.phones_of("one") == []
    status, body = await admin(daemon, "POST", "/admin/vendors/cheap/enable")
    assert (status, body["state"]) == (200, "routable")
    assert await send(daemon, "two") == b"0"
    assert cheap.simulator.phones_of("two") == ["13800138000"]
    assert (await admin(daemon, "POST", "/admin/vendors/nobody/drain"))[0] == 404


async def test_admin_api_is_off_without_a_token(
    tmp_path: Path, pair: tuple[SimulatorServer, SimulatorServer]
) -> None:
    path = write(tmp_path / "c.toml", *pair, admin={})
    daemon = Daemon(load_settings(path), path)
    await daemon.start()
    try:
        assert (await admin(daemon, "GET", "/admin/vendors"))[0] == 404
    finally:
        await daemon.stop()


async def test_reload_applies_a_good_config_and_refuses_a_bad_one(
    daemon: Daemon, pair: tuple[SimulatorServer, SimulatorServer], tmp_path: Path
) -> None:
    cheap, dear = pair
    path = tmp_path / "smsproxy.toml"
    write(path, cheap, dear, vendor_over={"cheap": {"price_per_segment": 0.09}})
    status, body = await admin(daemon, "POST", "/admin/reload")
    assert (status, body["ok"], body["changes"]) == (200, True, ["vendors"])
    assert await send(daemon, "after") == b"0"
    assert dear.simulator.phones_of("after") == ["13800138000"]

    path.write_text(path.read_text() + "\ncolour = 1\n")
    status, body = await admin(daemon, "POST", "/admin/reload")
    assert status == 400 and not body["ok"]
    assert "colour: unknown option" in body["message"]
    assert await send(daemon, "still") == b"0"  # the running config stays
    assert dear.simulator.phones_of("still") == ["13800138000"]

    write(path, cheap, dear, listen={"legacy": "127.0.0.1:1", "admin": "127.0.0.1:0"})
    status, body = await admin(daemon, "POST", "/admin/reload")
    assert status == 400 and "changing listen needs a restart" in body["message"]


async def test_reload_keeps_what_unchanged_vendors_learnt(
    daemon: Daemon, pair: tuple[SimulatorServer, SimulatorServer], tmp_path: Path
) -> None:
    cheap, dear = pair
    await admin(daemon, "POST", "/admin/vendors/dear/drain")
    write(
        tmp_path / "smsproxy.toml", cheap, dear, vendor_over={"cheap": {"price_per_segment": 0.02}}
    )
    assert (await daemon.reload()).ok
    vendors = {v["name"]: v for v in (await admin(daemon, "GET", "/admin/vendors"))[1]["vendors"]}
    assert vendors["dear"]["state"] == "drained"  # unchanged: it keeps its state
    assert vendors["cheap"]["price_per_segment"] == 0.02


async def at_the_vendor(vendor: SimulatorServer, before: int) -> None:
    """Until the vendor has a request beyond its first ``before`` (counted as it
    arrives, before the simulator's latency): a fixed sleep is not always
    enough on a slow machine."""
    for _ in range(500):
        if vendor.simulator.requests > before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the send never reached the vendor")


async def test_sends_in_flight_finish_on_the_old_config(
    daemon: Daemon, pair: tuple[SimulatorServer, SimulatorServer], tmp_path: Path
) -> None:
    cheap, dear = pair
    cheap.simulator.faults.latency_s = 1.0
    before = cheap.simulator.requests
    in_flight = asyncio.ensure_future(send(daemon, "slow"))
    await at_the_vendor(cheap, before)
    write(tmp_path / "smsproxy.toml", cheap, dear, vendor_over={"cheap": {"enabled": False}})
    assert (await daemon.reload()).ok
    assert await in_flight == b"0"
    assert cheap.simulator.phones_of("slow") == ["13800138000"]
    cheap.simulator.faults.latency_s = 0
    assert await send(daemon, "new") == b"0"
    assert dear.simulator.phones_of("new") == ["13800138000"]


async def test_a_retry_during_a_reload_waits_for_the_first_and_is_not_sent_twice(
    daemon: Daemon, pair: tuple[SimulatorServer, SimulatorServer], tmp_path: Path
) -> None:
    cheap, dear = pair
    cheap.simulator.faults.latency_s = 1.0
    before = cheap.simulator.requests
    first = asyncio.ensure_future(send(daemon, "retried"))
    await at_the_vendor(cheap, before)
    # A reload that changes nothing the send needs, while the first try is at
    # the vendor; then the client's retry arrives on the new engine.
    write(
        tmp_path / "smsproxy.toml", cheap, dear, vendor_over={"dear": {"price_per_segment": 0.06}}
    )
    assert (await daemon.reload()).ok
    retry = asyncio.ensure_future(send(daemon, "retried"))
    assert await first == b"0"
    # It waited for the first try, saw it accepted: 0, and nothing sent again.
    assert await retry == b"0"
    assert cheap.simulator.phones_of("retried") == ["13800138000"]
    assert dear.simulator.phones_of("retried") == []


async def test_sighup_reloads_the_config_file(
    tmp_path: Path, pair: tuple[SimulatorServer, SimulatorServer]
) -> None:
    cheap, dear = pair
    path = write(tmp_path / "smsproxy.toml", cheap, dear)
    proc = DaemonProcess(path, tmp_path)
    await proc.start()
    try:
        write(path, cheap, dear, vendor_over={"cheap": {"price_per_segment": 0.09}})
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGHUP)
        for _ in range(100):
            events = [e["event"] for e in proc.log_events()]
            if "reloaded" in events:
                break
            await asyncio.sleep(0.05)
        reloaded = next(e for e in proc.log_events() if e["event"] == "reloaded")
        assert reloaded["changes"] == ["vendors"]
        query = f"cpid={CPID}&cppwd={CPPWD}&phone=13800138000&msgtext=hup"
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{proc.listening['legacy']}/mt/?{query}") as resp,
        ):
            assert await resp.read() == b"0"
        assert dear.simulator.phones_of("hup") == ["13800138000"]
    finally:
        await proc.stop()
    assert proc.proc is not None and proc.proc.returncode == 0
