"""The daemon as a child process on fixed ports, to be killed for real and restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import ADMIN_HEADERS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def write_config(
    path: Path, sections: dict[str, dict[str, Any]], tables: dict[str, list[dict[str, Any]]]
) -> None:
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    for name, entries in tables.items():
        for entry in entries:
            lines.append(f"[[{name}]]")
            lines += [f"{k} = {toml_value(v)}" for k, v in entry.items() if v is not None]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class DaemonProcess:
    """``python -m proxy.cli run --config FILE``; its JSON log goes to a file per run.

    ``env`` is added to this process's environment for the child (``TZ``, say).
    """

    def __init__(self, config: Path, logs: Path, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.logs = logs
        self.env = dict(env or {})
        self.runs = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.listening: dict[str, str] = {}

    async def start(self) -> None:
        self.runs += 1
        log = self.logs / f"daemon-{self.runs}.log"
        with log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "proxy.cli",
                "run",
                "--config",
                str(self.config),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        for _ in range(200):
            for line in log.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                if record.get("event") == "listening":
                    self.listening = record
                    return
            assert self.proc.returncode is None, log.read_text()
            await asyncio.sleep(0.05)
        raise AssertionError("the daemon did not start: " + log.read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def wait_dead(self) -> None:
        assert self.proc is not None
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def log_events(self, run: int | None = None) -> list[dict[str, Any]]:
        """The JSON log records of one run (1, 2, …), or of every run."""
        events = []
        for n in [run] if run else range(1, self.runs + 1):
            text = (self.logs / f"daemon-{n}.log").read_text(encoding="utf-8")
            events += [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        return events

    async def inbox(self) -> dict[str, int]:
        url = self.listening["admin"] + "/reports/unmatched"
        async with (
            aiohttp.ClientSession(headers=ADMIN_HEADERS) as session,
            session.get(url) as resp,
        ):
            counts: dict[str, int] = (await resp.json())["counts"]
            return counts
