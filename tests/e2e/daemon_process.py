"""The daemon as a child process on fixed ports, to be killed for real and restarted."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from bench.procs import DISCARD, Child, json_event
from tests.conftest import ADMIN_HEADERS

# On a busy machine a daemon restarted under the crash tests' load has taken
# 11 s to listen again: a generous bound, since only a broken start reaches it.
START_TIMEOUT_S = 30.0


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
        self.proc: Child | None = None
        self.listening: dict[str, str] = {}

    def log(self, run: int) -> Path:
        return self.logs / f"daemon-{run}.log"

    async def start(self) -> None:
        self.runs += 1
        log = self.log(self.runs)
        self.proc = Child.start(
            "the daemon",
            [sys.executable, "-m", "proxy.cli", "run", "--config", str(self.config)],
            log=log,
            stdout=DISCARD,
            env={"PYTHONUNBUFFERED": "1", **self.env},
        )
        self.listening = await self.proc.wait_ready_async(json_event(log), START_TIMEOUT_S)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    async def wait_dead(self) -> None:
        assert self.proc is not None
        await self.proc.wait_async()

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop_async(grace_s=10.0)

    def log_events(self, run: int | None = None) -> list[dict[str, Any]]:
        """The JSON log records of one run (1, 2, …), or of every run."""
        events = []
        for n in [run] if run else range(1, self.runs + 1):
            text = self.log(n).read_text(encoding="utf-8")
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
