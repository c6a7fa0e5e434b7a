"""A send through the daemon reaches each vendor's simulator, one vendor at a time."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote_plus

import aiohttp
import pytest

from adapters.simulator import SimulatorServer
from adapters.simulators import VENDOR_KINDS, VendorKind
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config

TEXT = "【ACME】您的验证码是 135790，请在5分钟内输入。Thanks!"


@pytest.mark.parametrize("kind", VENDOR_KINDS, ids=lambda vk: vk.kind)
async def test_send_reaches_the_vendor(
    kind: VendorKind, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = kind.simulator()
    async with SimulatorServer(sim) as server:
        vendor = {
            "kind": kind.kind,
            "name": kind.kind,
            "base_url": server.url,
            "price_per_segment": 0.05,
            **sim.credentials(),
        }
        daemon = await start_daemon(base_config(tmp_path, vendors=[vendor]))
        cppwd = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
        phones = [f"1380013{i:04d}" for i in range(60)]  # more than sms.cn's 50 by GET
        query = (
            f"cpid={CPID}&cppwd={cppwd}&phone={','.join(phones)}"
            f"&msgtext={quote_plus(TEXT, encoding='gbk')}"
        )
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{daemon.legacy_url}/mt/?{query}") as resp,
        ):
            assert await resp.read() == b"0"
        assert sorted(sim.phones_of(TEXT)) == phones
        assert len(sim.accepted) == len(phones)


SECRET_FIELDS = ("password", "authkey")


@pytest.mark.parametrize("kind", VENDOR_KINDS, ids=lambda vk: vk.kind)
async def test_wrong_vendor_credentials_are_refused_by_the_vendor(
    kind: VendorKind, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = kind.simulator()
    async with SimulatorServer(sim) as server:
        credentials = sim.credentials()
        wrong = {k: (v + "x" if k in SECRET_FIELDS else v) for k, v in credentials.items()}
        assert wrong != credentials
        vendor = {
            "kind": kind.kind,
            "name": kind.kind,
            "base_url": server.url,
            "price_per_segment": 0.05,
            **wrong,
        }
        daemon = await start_daemon(base_config(tmp_path, vendors=[vendor]))
        cppwd = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
        query = f"cpid={CPID}&cppwd={cppwd}&phone=13800138000&msgtext=hello"
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{daemon.legacy_url}/mt/?{query}") as resp,
        ):
            assert await resp.read() == b"-17"
        assert sim.accepted == []
        router_state = repr(daemon.engine.router)
        assert f"{kind.kind}=ejected" in router_state
