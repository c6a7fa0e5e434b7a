"""``smsproxy route`` tells the operator the choice the daemon then makes."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import aiohttp

from adapters.simulator import SimulatorServer
from adapters.simulators import VENDOR_KINDS
from config.loader import load_settings
from proxy.cli import main
from proxy.serve import Daemon
from tests.conftest import CPID, PASSWORD

RULES = """
[[rules]]
name = "unicom-verification"
match = {{ carriers = ["unicom"], classes = ["verification"] }}
vendors = ["c123", "esms100"]
strategy = "priority"

[[rules]]
name = "everything-else"
vendors = ["esms100", "smscn", "chuanglan"]
"""


def toml_config(tmp_path: Path, servers: dict[str, SimulatorServer]) -> Path:
    prices = {
        "esms100": 0.045,
        "smscn": 0.040,
        "chuanglan": 0.030,
        "c123": 0.050,
        "sms10000": 0.042,
    }
    lines = [
        '[listen]\nlegacy = "127.0.0.1:0"\nadmin = "127.0.0.1:0"\npush = "127.0.0.1:0"\n',
        f'[state]\npath = "{tmp_path / "s.sqlite3"}"\n',
        f'[[clients]]\ncpid = "{CPID}"\npassword = "{PASSWORD}"\n',
    ]
    for kind, server in servers.items():
        lines.append(
            f'[[vendors]]\nkind = "{kind}"\nname = "{kind}"\nbase_url = "{server.url}"'
            f"\nprice_per_segment = {prices[kind]}"
        )
        for key, value in server.simulator.credentials().items():
            if value is not None:
                lines.append(f"{key} = {value!r}".replace("'", '"'))
        lines.append("")
    path = tmp_path / "route.toml"
    path.write_text("\n".join(lines) + RULES.format(), encoding="utf-8")
    return path


async def test_route_explains_what_the_daemon_does(tmp_path: Path) -> None:
    servers = {vk.kind: SimulatorServer(vk.simulator()) for vk in VENDOR_KINDS}
    for s in servers.values():
        await s.start()
    try:
        path = toml_config(tmp_path, servers)
        text = "【ACME】您的验证码是 8080"
        phones = "13012345678,13800138000"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy.cli",
            "route",
            "--config",
            str(path),
            "--phone",
            phones,
            "--text",
            text,
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0
        out = stdout.decode()
        assert "rule 'unicom-verification' (priority) for 1 recipient(s):" in out
        assert (
            "  13012345678  unicom\n  vendors, in the order they are tried:\n"
            "    1. c123  cost 0.0500\n    2. esms100  cost 0.0450"
        ) in out
        assert "rule 'everything-else' (cheapest) for 1 recipient(s):" in out
        assert (
            "    1. chuanglan  cost 0.0300\n    2. smscn  cost 0.0400\n    3. esms100  cost 0.0450"
        ) in out

        # The daemon, run on the same file, makes that choice.
        daemon = Daemon(load_settings(path))
        await daemon.start()
        try:
            cppwd = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
            form = {
                "cpid": CPID,
                "cppwd": cppwd,
                "phone": phones,
                "msgtext": text,
                "encode": "utf8",
            }
            async with (
                aiohttp.ClientSession() as session,
                session.post(f"{daemon.legacy_url}/mt/", data=form) as resp,
            ):
                assert await resp.read() == b"0"
        finally:
            await daemon.stop()
        assert servers["c123"].simulator.phones_of(text) == ["13012345678"]
        assert servers["chuanglan"].simulator.phones_of(text) == ["13800138000"]
    finally:
        for s in servers.values():
            await s.stop()


def test_route_with_a_bad_config_file(tmp_path: Path) -> None:
    assert (
        main(["route", "--config", str(tmp_path / "nope.toml"), "--phone", "1", "--text", "x"]) == 2
    )
