"""``smsproxy demo``: the daemon on its embedded defaults, with simulated vendors.

Nothing to configure and nothing to install: a SQLite file under ``var/``,
one simulator of every vendor kind on loopback, and a demo client account.
It prints how to send a message with curl and how to play with the vendors.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.esms100.wire import password_digest
from adapters.form import quote
from config.loader import settings_from
from config.settings import Settings
from proxy.serve import Daemon

if TYPE_CHECKING:
    from adapters.simulator import SimulatorServer

DEMO_CPID = "demo"
DEMO_ADMIN_TOKEN = "demo-admin"  # noqa: S105 - the documented demo token
DEMO_PASSWORD = "demo123"  # noqa: S105 - the documented demo account
# Cheapest last, so a first message shows the router picking on price.
DEMO_PRICES = {
    "esms100": 0.045,
    "smscn": 0.040,
    "c123": 0.050,
    "chuanglan": 0.038,
    "sms10000": 0.042,
}


def demo_settings(
    sims: dict[str, SimulatorServer], state: Path, legacy: str, admin: str, push: str
) -> Settings:
    vendors: list[dict[str, Any]] = [
        {
            **server.simulator.credentials(),
            "kind": kind,
            "name": f"{kind}-sim",
            "base_url": server.url,
            "price_per_segment": DEMO_PRICES.get(kind, 0.05),
            # Simulators on loopback: a shell's HTTPS_PROXY/HTTP_PROXY is not for them.
            "use_env_proxy": False,
        }
        for kind, server in sims.items()
    ]
    return settings_from(
        {
            "listen": {"legacy": legacy, "admin": admin, "push": push},
            "admin": {"token": DEMO_ADMIN_TOKEN},
            # Every vendor here is a simulator: no need to wait a minute for a reply.
            "reports": {"poll_interval_override_s": 2.0, "default_client": DEMO_CPID},
            "state": {"path": str(state)},
            "clients": [{"cpid": DEMO_CPID, "password": DEMO_PASSWORD, "rate_per_s": 50}],
            "vendors": vendors,
        },
        "(embedded demo defaults)",
    )


def banner(daemon: Daemon, sims: dict[str, SimulatorServer]) -> str:
    url = daemon.legacy_url
    cppwd = password_digest(DEMO_PASSWORD)
    text = quote("【演示】您的验证码是 123456", "utf-8")
    lines = [
        "",
        "smsproxy demo is running.",
        f"  legacy esms100 endpoint: {url}/mt/   (client cpid={DEMO_CPID} "
        f"password={DEMO_PASSWORD})",
        f"  metrics and health:      {daemon.admin_url}/metrics  {daemon.admin_url}/readyz",
        f"  admin API:               curl -H 'Authorization: Bearer {DEMO_ADMIN_TOKEN}' "
        f"{daemon.admin_url}/admin/vendors",
        "",
        "Send a message (UTF-8 text, as PHP clients do):",
        f"  curl '{url}/mt/?cpid={DEMO_CPID}&cppwd={cppwd}&phone=13800138000,13900139000"
        f"&msgtext={text}&encode=utf8'",
        "Read delivery reports and replies, and the quota:",
        f"  curl '{url}/qreport/?cpid={DEMO_CPID}&cppwd={cppwd}'",
        f"  curl '{url}/mo/?cpid={DEMO_CPID}&cppwd={cppwd}'",
        f"  curl '{url}/qamount/?cpid={DEMO_CPID}&cppwd={cppwd}'",
        "",
        "Simulated vendors (what each accepted, and knobs to break it):",
    ]
    for kind, server in sims.items():
        lines.append(f"  {kind:10} {server.url}/_sim/accepted")
    cheapest = sims[min(sims, key=lambda k: DEMO_PRICES.get(k, 0.05))]
    lines += [
        "  run the cheapest out of money, and watch the next send fail over:",
        f"  curl -X POST {cheapest.url}/_sim/faults -d '{{\"balance\": 0}}'",
        "  have someone reply (it reaches /mo/ of the client that last sent to them):",
        f'  curl -X POST {cheapest.url}/_sim/reply -d \'{{"phone": "13800138000", '
        f'"text": "收到"}}\'',
        "",
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


async def run_demo(legacy: str, admin: str, push: str, state: Path, vendor_base_port: int) -> None:
    # The simulators, and aiohttp's web server with them, load only when the demo
    # runs: no other product module imports them (pyproject.toml's import contracts).
    from adapters.simulator import SimulatorServer
    from adapters.simulators import VENDOR_KINDS

    sims: dict[str, SimulatorServer] = {}
    for offset, vk in enumerate(VENDOR_KINDS):
        server = SimulatorServer(
            vk.simulator(), port=vendor_base_port + offset if vendor_base_port else 0
        )
        await server.start()
        sims[vk.kind] = server
    try:
        settings = demo_settings(sims, state, legacy, admin, push)
        daemon = Daemon(settings)
        for server in sims.values():
            # Reports come a little after the send, as they would from a real vendor.
            server.simulator.faults.report_delay_s = 2.0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await daemon.start()
        for kind, server in sims.items():
            # Pushing vendors report to the daemon's push port, under the vendor's name.
            server.simulator.faults.push_url = f"{daemon.push_url}/push/{kind}-sim"
        print(banner(daemon, sims), flush=True)
        await stop.wait()
        await daemon.stop()
    finally:
        for server in sims.values():
            with contextlib.suppress(Exception):
                await server.stop()
