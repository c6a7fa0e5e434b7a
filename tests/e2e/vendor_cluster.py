"""Two daemon processes on one Redis in front of two esms100 simulators, ``a`` and ``b``.

Vendor ``a`` is the cheaper, so each daemon sends to it first and fails over
to ``b``; the simulators' own counts say what reached each vendor.  Used by
the tests of what the daemons share of their vendors
(:mod:`tests.e2e.test_shared_vendor_states`) and of what only one of them
does for all (:mod:`tests.e2e.test_vendor_turns`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN
from tests.e2e.daemon_process import DaemonProcess, write_config
from tests.e2e.legacy_client import LegacyClient

CPID, PASSWORD = "acme", "acme-pass"
TEXT = "【ACME】您的验证码是 {}"


class Cluster:
    def __init__(self, a: SimulatorServer, b: SimulatorServer, daemons: list[DaemonProcess]):
        self.a, self.b = a.simulator, b.simulator
        self.daemons = daemons
        self._n = 0

    async def send(self, daemon: int) -> bytes:
        """A send of a text of its own through daemon 1 or 2: the answer code."""
        self._n += 1
        text = TEXT.format(100000 + self._n)
        d = self.daemons[daemon - 1]
        return await LegacyClient(d.listening["legacy"], CPID, PASSWORD).send("13800138000", text)

    async def admin(self, daemon: int, method: str, path: str) -> tuple[int, dict[str, Any]]:
        url = self.daemons[daemon - 1].listening["admin"] + path
        async with (
            aiohttp.ClientSession(headers=ADMIN_HEADERS) as session,
            session.request(method, url) as resp,
        ):
            return resp.status, await resp.json()

    async def vendor(self, daemon: int, name: str) -> dict[str, Any]:
        status, body = await self.admin(daemon, "GET", "/admin/vendors")
        assert status == 200, body
        [vendor] = [v for v in body["vendors"] if v["name"] == name]
        return {"daemon": body.get("daemon"), **vendor}

    async def daemon_id(self, daemon: int) -> str:
        return str((await self.admin(daemon, "GET", "/admin/vendors"))[1]["daemon"])

    async def balances_known(self) -> None:
        """Until each daemon knows ``a``'s balance: from then on only a send would tell
        a daemon that ``a`` has no money."""
        for daemon in range(1, len(self.daemons) + 1):
            for _ in range(100):
                if (await self.vendor(daemon, "a"))["balance_segments"] is not None:
                    break
                await asyncio.sleep(0.05)


@asynccontextmanager
async def vendor_cluster(
    tmp_path: Path,
    redis_url: str,
    sections: dict[str, dict[str, Any]] | None = None,
    timeout_s: float = 2.0,
    names: tuple[str, ...] = ("d1", "d2"),
    named: bool = False,
) -> AsyncIterator[Cluster]:
    """A daemon a name in ``names`` (its directory; ``named``: its
    ``state.daemon_name`` too), started; ``sections`` add to the config's sections."""
    async with (
        SimulatorServer(Esms100Simulator(cpid="acct-a", password="pw-a")) as a,
        SimulatorServer(Esms100Simulator(cpid="acct-b", password="pw-b")) as b,
    ):
        prefix = f"vs-{uuid.uuid4().hex[:8]}:"
        daemons = []
        for name in names:
            home = tmp_path / name
            home.mkdir()
            config = home / "smsproxy.toml"
            base: dict[str, dict[str, Any]] = {
                "listen": {
                    "legacy": "127.0.0.1:0",
                    "admin": "127.0.0.1:0",
                    "push": "127.0.0.1:0",
                },
                "state": {"engine": "redis", "redis_url": redis_url, "redis_prefix": prefix},
                "routing": {"send_deadline_s": 5.0},
                "admin": {"token": ADMIN_TOKEN},
            }
            if named:
                base["state"]["daemon_name"] = name
            for section, values in (sections or {}).items():
                base[section] = {**base.get(section, {}), **values}
            write_config(
                config,
                base,
                {
                    "clients": [{"cpid": CPID, "password": PASSWORD, "rate_per_s": 100}],
                    "vendors": [
                        {
                            "kind": "esms100",
                            "name": name_,
                            "base_url": server.url,
                            "price_per_segment": price,
                            "timeout_s": timeout_s,
                            **server.simulator.credentials(),
                        }
                        for name_, server, price in (("a", a, 0.03), ("b", b, 0.05))
                    ],
                },
            )
            daemons.append(DaemonProcess(config, home))
        try:
            for d in daemons:
                await d.start()
            yield Cluster(a, b, daemons)
        finally:
            for d in daemons:
                await d.stop()
