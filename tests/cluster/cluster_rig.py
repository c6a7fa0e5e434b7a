"""Three daemon processes on one Redis behind a real HAProxy, judged by the vendors' books.

HAProxy runs ``deploy/haproxy.cfg`` with this run's ports (:mod:`bench.haproxy`:
PROXY protocol v2 to the daemons, health checks on their admin ports); the daemons share a
private Redis, plain or behind Sentinel (:mod:`tests.redis_sentinel`).  The
load and its judgement are :mod:`tests.e2e.crash_load`'s: one message per
number, resent until answered ``0``.  Each vendor simulator counts its
own ``too fast`` refusals (its ``rate_limit_per_s`` equals the vendor's
``rate_per_s`` in the daemons' config).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from adapters.simulator import Simulator, SimulatorServer
from bench import haproxy
from bench.procs import Child
from tests.conftest import ADMIN_TOKEN
from tests.e2e.crash_load import CPID, KINDS, PASSWORD, CrashLoad, _DeadPeer
from tests.e2e.daemon_process import DaemonProcess, free_port, write_config
from tests.e2e.legacy_client import ReportLine, parse_reports

DAEMONS = 3
VENDOR_RATE_PER_S = 25  # the simulators' limit and the daemons' rate_per_s alike
VENDORS = {"esms100": 0.040, "smscn": 0.045}


class ClusterRig:
    def __init__(self, workdir: Path, load: CrashLoad, state: dict[str, Any]) -> None:
        self.workdir = workdir
        self.load = load
        self.state = state
        self.sims: dict[str, Simulator] = {}
        self.servers: list[SimulatorServer] = []
        self.daemons: list[DaemonProcess] = []
        self.haproxy: Child | None = None
        self.url = ""
        self._quiet = _DeadPeer()

    async def start(self) -> None:
        import logging

        logging.getLogger("aiohttp.server").addFilter(self._quiet)
        vendors = []
        for kind, price in VENDORS.items():
            sim = KINDS[kind].simulator()
            sim.faults.latency_s = self.load.latency_s
            sim.faults.report_delay_s = self.load.report_delay_s
            sim.faults.rate_limit_per_s = VENDOR_RATE_PER_S
            server = SimulatorServer(sim)
            await server.start()
            self.sims[kind], self.servers = sim, [*self.servers, server]
            vendors.append(
                {
                    "kind": kind,
                    "name": kind,
                    "base_url": server.url,
                    "price_per_segment": price,
                    "rate_per_s": VENDOR_RATE_PER_S,
                    "connect_timeout_s": 0.5,
                    "timeout_s": 2.0,
                    **sim.credentials(),
                }
            )
        ports = [(free_port(), free_port(), free_port()) for _ in range(DAEMONS)]
        for i, (legacy, admin, push) in enumerate(ports):
            home = self.workdir / f"daemon{i + 1}"
            home.mkdir()
            config = home / "smsproxy.toml"
            write_config(
                config,
                {
                    "listen": {
                        "legacy": f"127.0.0.1:{legacy}",
                        "admin": f"127.0.0.1:{admin}",
                        "push": f"127.0.0.1:{push}",
                        "proxy_protocol": True,
                        "trusted_proxies": [haproxy.TRUSTED],
                    },
                    "state": {**self.state, "path": str(home / "state.sqlite3")},
                    "routing": {
                        "send_deadline_s": 3.0,
                        "dedup_window_s": 600,
                        "unresolved_expire_s": self.load.unresolved_expire_s,
                    },
                    "shutdown": {"grace_s": 2},
                    "admin": {"token": ADMIN_TOKEN},
                    "reports": {"poll_interval_override_s": self.load.poll_interval_s},
                },
                {
                    "clients": [{"cpid": CPID, "password": PASSWORD, "rate_per_s": 100000}],
                    "vendors": vendors,
                },
            )
            self.daemons.append(DaemonProcess(config, home))
        await asyncio.gather(*(d.start() for d in self.daemons))
        self.url = await self._start_haproxy([(legacy, admin) for legacy, admin, _ in ports])

    @property
    def too_fast(self) -> dict[str, int]:
        """Sends each vendor refused as too fast (its simulator counts them)."""
        return {kind: sim.too_fast for kind, sim in self.sims.items()}

    async def _start_haproxy(self, ports: list[tuple[int, int]]) -> str:
        binary = haproxy.binary()
        if binary is None:
            pytest.fail(
                "haproxy is not installed: run ./dev test, which installs Debian's haproxy",
                pytrace=False,
            )
        front = free_port()
        conf = self.workdir / "haproxy.cfg"
        conf.write_text(haproxy.config_text(front, ports), encoding="utf-8")
        self.haproxy = Child.start(
            "haproxy", [binary, "-db", "-f", str(conf)], log=self.workdir / "haproxy.log"
        )
        url = f"http://127.0.0.1:{front}"
        await self.haproxy.wait_ready_async(lambda: _answers(url), 15.0)
        return url

    async def stop(self) -> None:
        import logging

        for daemon in self.daemons:
            await daemon.stop()
        if self.haproxy is not None:
            await self.haproxy.stop_async(grace_s=3.0)
        for server in self.servers:
            await server.stop()
        logging.getLogger("aiohttp.server").removeFilter(self._quiet)

    async def shown(self) -> str:
        """What the daemons show an operator: each one's /admin/vendors and /metrics."""
        pages = []
        for daemon in self.daemons:
            address = URL(daemon.listening["admin"])
            for path in ("/admin/vendors", "/metrics"):
                pages.append(await _get_as_balancer(address.host or "", address.port or 0, path))
        return "\n".join(pages)

    def logs(self) -> str:
        """Every run's log of every daemon, and HAProxy's."""
        texts = [
            d.log(run).read_text(encoding="utf-8")
            for d in self.daemons
            for run in range(1, d.runs + 1)
        ]
        return "\n".join([*texts, (self.workdir / "haproxy.log").read_text(encoding="utf-8")])

    def warnings(self, most: int = 12) -> str:
        """The daemons' warnings and errors, counted by event and error type:
        why a send was answered -15 or -17, when a run fails."""
        seen: Counter[str] = Counter()
        for line in self.logs().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # HAProxy's, or a killed daemon's last line, cut short
            if isinstance(event, dict) and event.get("level") in ("warning", "error"):
                error = str(event.get("error", "")).split("(", 1)[0]
                seen[f"{event.get('event')} {error}".strip()] += 1
        return "; ".join(f"{what}: {n}" for what, n in seen.most_common(most)) or "none"

    def books(self) -> dict[str, list[tuple[str, str]]]:
        return {name: [(m.phone, m.text) for m in sim.accepted] for name, sim in self.sims.items()}

    async def drain_reports(self, quiet_s: float = 3.0, within_s: float = 20.0) -> list[ReportLine]:
        """``/qreport/`` through HAProxy until it has said nothing for ``quiet_s``."""
        got: list[ReportLine] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        last_new = loop.time()
        query = f"cpid={CPID}&cppwd={_md5(PASSWORD)}"
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline and loop.time() - last_new < quiet_s:
                try:
                    async with session.get(f"{self.url}/qreport/?{query}") as resp:
                        body = await resp.read()
                except (aiohttp.ClientError, OSError):
                    body = b"0"
                if body == b"-15":
                    # The store busy (a replica resyncing after the failover):
                    # a client asks again, and the quiet time starts after.
                    lines, last_new = [], loop.time()
                else:
                    lines = parse_reports(body)
                if lines:
                    got += lines
                    last_new = loop.time()
                else:
                    await asyncio.sleep(0.3)
        return got


async def _answers(url: str) -> bool | None:
    """HAProxy listens and a daemon behind it answers (a bad login: -1)."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/mt/?cpid=nobody&cppwd=x&phone=1&msgtext=x") as resp,
        ):
            return True if resp.status == 200 else None
    except (aiohttp.ClientError, OSError):
        return None


async def _get_as_balancer(host: str, port: int, path: str) -> str:
    """``GET path`` with the admin token, opening with ``PROXY UNKNOWN`` as HAProxy's own
    checks do: a daemon drops a trusted address's connection that has no PROXY header."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            b"PROXY UNKNOWN\r\n"
            + f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"Authorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode()
        )
        answer = (await asyncio.wait_for(reader.read(), 10.0)).decode("utf-8", "replace")
    finally:
        writer.close()
    assert answer.startswith("HTTP/1.1 200"), (path, answer[:200])
    return answer


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest().upper()
