"""The daemon as a process: start from a config file, SIGTERM, logs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import sys
from pathlib import Path
from urllib.parse import quote_plus

import aiohttp

from adapters.simulator import SimulatorServer

TEXT = "【ACME】机密验证码 909090"
CLIENT_PASSWORD = "client-pw-7f3a"
VENDOR_PASSWORD = "vendor-pw-91bc"


def write_config(tmp_path: Path, vendor_url: str) -> Path:
    config = tmp_path / "smsproxy.toml"
    config.write_text(
        f"""
[listen]
legacy = "127.0.0.1:0"
admin = "127.0.0.1:0"
push = "127.0.0.1:0"
[state]
path = "{tmp_path / "state.sqlite3"}"
[shutdown]
grace_s = 5
[[clients]]
cpid = "acme"
password = {{ env = "ACME_PASSWORD" }}
[[vendors]]
kind = "esms100"
name = "esms100"
base_url = "{vendor_url}"
price_per_segment = 0.05
cpid = "vendor-acct"
password = {{ env = "VENDOR_PASSWORD" }}
""",
        encoding="utf-8",
    )
    return config


async def read_until(stream: asyncio.StreamReader, event: str, into: list[str]) -> dict[str, str]:
    while True:
        line = (await asyncio.wait_for(stream.readline(), 10)).decode()
        assert line, "the daemon exited early: " + "".join(into)
        into.append(line)
        record = json.loads(line)
        if record.get("event") == event:
            return record


async def test_sigterm_finishes_in_flight_sends_and_exits_0(tmp_path: Path) -> None:
    from adapters.esms100.simulator import Esms100Simulator

    sim = Esms100Simulator(cpid="vendor-acct", password=VENDOR_PASSWORD)
    async with SimulatorServer(sim) as server:
        config = write_config(tmp_path, server.url)
        env = {**os.environ, "ACME_PASSWORD": CLIENT_PASSWORD, "VENDOR_PASSWORD": VENDOR_PASSWORD}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy.cli",
            # debug: every line a send can log must still carry no secret
            "--log-level",
            "debug",
            "run",
            "--config",
            str(config),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        logs: list[str] = []
        try:
            listening = await read_until(proc.stderr, "listening", logs)
            url = listening["legacy"]
            cppwd = hashlib.md5(CLIENT_PASSWORD.encode()).hexdigest().upper()
            query = (
                f"cpid=acme&cppwd={cppwd}&phone=13800138000&msgtext={quote_plus(TEXT)}&encode=utf8"
            )
            sim.faults.latency_s = 1.0
            async with aiohttp.ClientSession() as session:
                before = sim.requests
                in_flight = asyncio.ensure_future(session.get(f"{url}/mt/?{query}"))
                # At the vendor (the simulator counts it before its latency):
                # a fixed sleep was not always enough on a slow machine.
                for _ in range(500):
                    if sim.requests > before:
                        break
                    await asyncio.sleep(0.01)
                assert sim.requests > before
                proc.send_signal(signal.SIGTERM)
                resp = await in_flight
                assert resp.status == 200 and await resp.read() == b"0"
            rest = await asyncio.wait_for(proc.stderr.read(), 10)
            logs += rest.decode().splitlines(keepends=True)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert sim.phones_of(TEXT) == ["13800138000"]
    events = [json.loads(line)["event"] for line in logs]
    assert "send_done" in events and events[-1] == "stopped"
    everything = "".join(logs)
    for secret in (CLIENT_PASSWORD, VENDOR_PASSWORD, cppwd, TEXT, quote_plus(TEXT), "机密"):
        assert secret not in everything
    send_done = next(json.loads(line) for line in logs if '"send_done"' in line)
    # A send id is unique, not secret: hex, at least 64 bits' worth.
    assert send_done["client"] == "acme"
    assert re.fullmatch(r"[0-9a-f]{16,}", send_done["send_id"]), send_done
    assert send_done["vendors"] == ["esms100"]


async def test_run_with_a_bad_config_names_the_option(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[vendors]]\nkind = "esms100"\nname = "x"\nbase_url = "nope"\n'
        'price_per_segment = 0.05\ncpid = "1"\npassword = "p"\ncolour = "red"\n'
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy.cli",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    text = err.decode()
    assert f"{config}: vendors[0].base_url:" in text
    assert f"{config}: vendors[0].colour: unknown option" in text
    assert "Traceback" not in text


async def test_a_second_daemon_on_the_same_state_file_is_refused(tmp_path: Path) -> None:
    """Its send locks, quota and held batches are the first one's memory: a
    second daemon on the file could send a number twice, or hand out a batch
    the first is writing.  It is told why, not shown a traceback."""
    config = write_config(tmp_path, "http://127.0.0.1:9")
    env = {**os.environ, "ACME_PASSWORD": CLIENT_PASSWORD, "VENDOR_PASSWORD": VENDOR_PASSWORD}
    run = (sys.executable, "-m", "proxy.cli", "run", "--config", str(config))

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *run, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )

    first = await start()
    second: asyncio.subprocess.Process | None = None
    try:
        assert first.stderr is not None
        await read_until(first.stderr, "listening", [])
        second = await start()
        _, err = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 1, err.decode()
        text = err.decode()
        assert f"state.path {tmp_path / 'state.sqlite3'} is in use by another smsproxy" in text
        assert "Traceback" not in text
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), 10) == 0
        # The lock went with the first daemon: the next start on the file is its own.
        second = await start()
        assert second.stderr is not None
        await read_until(second.stderr, "listening", [])
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()


def test_a_state_file_reached_through_a_link_has_one_owner(tmp_path: Path) -> None:
    from proxy.store.base import StoreUnavailable
    from proxy.store.sqlite.owner import StateFileOwner

    state = tmp_path / "state.sqlite3"
    state.touch()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(state)
    owner = StateFileOwner.take(state)
    try:
        try:
            StateFileOwner.take(link)
        except StoreUnavailable as exc:
            assert "in use by another smsproxy daemon" in str(exc)
        else:
            raise AssertionError("a second owner through the link")
    finally:
        owner.release()
    StateFileOwner.take(link).release()
