"""The daemon under fuzz: one started here, or one already running.

:class:`LocalDaemon` starts the daemon as a process of its own (its memory
read from ``/proc``, its JSON log kept in a file) in front of an esms100
simulator in this process, with short ``[http]`` time-outs so that heads
that never end and bodies that trickle resolve in a second, a client whose
sends reach the vendor, and a vendor that hands back delivery reports and
replies with odd texts for ``/qreport/`` and ``/mo/`` to carry.

:class:`Target` is what a run needs of either: where to connect, the client
to log in as, the limits the cases are made around, and what can be read
of the process (its RSS, its log) when it is on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from tests.conftest import ADMIN_TOKEN
from tests.e2e.daemon_process import DaemonProcess, write_config
from tests.fuzz.case import Account, TargetLimits
from tests.fuzz.values import random_text

FUZZ_ACCOUNT = Account("fuzz", "fuzz-pass-1")
LIMITS = TargetLimits(head_timeout_s=1.0, body_timeout_s=1.0, keepalive_s=2.0)
# Replies the vendor hands back, one every so often, to numbers the fuzz sent to.
REPLY_EVERY_S = 0.5


@dataclass
class Target:
    host: str
    port: int
    account: Account
    limits: TargetLimits
    pid: int | None = None  # the daemon's, when it runs on this machine
    log: Path | None = None  # its JSON log, when known

    def rss_bytes(self) -> int | None:
        if self.pid is None:
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    def log_faults(self) -> list[str]:
        """Log lines that show a fault: a traceback, an exception, an error, a line not JSON."""
        if self.log is None:
            return []
        faults = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                faults.append(f"not a JSON log line: {line[:500]}")
                continue
            if not isinstance(record, dict):
                faults.append(f"not a log record: {line[:500]}")
            elif (
                "exception" in record
                or "exc_info" in record
                or "Traceback" in line
                or record.get("level") in ("error", "critical")
            ):
                faults.append(line[:2000])
        return faults


class LocalDaemon:
    """The daemon as a process, in ``workdir``, in front of an esms100 simulator."""

    def __init__(self, workdir: Path, seed: int, max_connections: int = 1024) -> None:
        self.workdir = workdir
        self.seed = seed
        self.max_connections = max_connections
        self.vendor = SimulatorServer(Esms100Simulator(cpid="fuzz-vendor", password="vendor-pw"))
        self.daemon: DaemonProcess | None = None
        self._replies: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<LocalDaemon {self.workdir}>"

    async def __aenter__(self) -> Target:
        await self.vendor.__aenter__()
        config = self.workdir / "smsproxy.toml"
        write_config(config, self._sections(), self._tables())
        config.chmod(0o600)  # else the daemon warns of a config others may read
        self.daemon = DaemonProcess(config, self.workdir)
        await self.daemon.start()
        assert self.daemon.proc is not None
        host, port = self.daemon.listening["legacy"].removeprefix("http://").rsplit(":", 1)
        self._replies = asyncio.create_task(self._reply_now_and_then())
        return Target(
            host,
            int(port),
            FUZZ_ACCOUNT,
            LIMITS,
            pid=self.daemon.proc.pid,
            log=self.workdir / f"daemon-{self.daemon.runs}.log",
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._replies is not None:
            self._replies.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replies
        if self.daemon is not None:
            await self.daemon.stop()
        await self.vendor.__aexit__(exc_type, exc, tb)

    def _sections(self) -> dict[str, dict[str, object]]:
        return {
            "listen": {"legacy": "127.0.0.1:0", "admin": "127.0.0.1:0", "push": "127.0.0.1:0"},
            "state": {"path": str(self.workdir / "state.sqlite3")},
            "admin": {"token": ADMIN_TOKEN},
            "shutdown": {"grace_s": 0.5},
            "http": {
                "head_timeout_s": LIMITS.head_timeout_s,
                "body_timeout_s": LIMITS.body_timeout_s,
                "keepalive_s": LIMITS.keepalive_s,
                "max_connections": self.max_connections,
            },
            # Every case comes from one address: a lock-out of it would answer
            # every later case -9.  A lock-out of an unknown cpid still comes.
            "login": {"max_failures_per_address": 1_000_000_000},
            "routing": {"send_deadline_s": 3.0},
            "reports": {"poll_interval_override_s": 0.5},
        }

    def _tables(self) -> dict[str, list[dict[str, object]]]:
        return {
            "clients": [
                {
                    "cpid": FUZZ_ACCOUNT.cpid,
                    "password": FUZZ_ACCOUNT.password,
                    "rate_per_s": 1_000_000,
                }
            ],
            "vendors": [
                {
                    "kind": "esms100",
                    "name": "esms100",
                    "base_url": self.vendor.url,
                    "price_per_segment": 0.05,
                    "rate_per_s": 1_000_000,
                    "timeout_s": 2.0,
                    **self.vendor.simulator.credentials(),
                }
            ],
        }

    async def _reply_now_and_then(self) -> None:
        """Replies, odd texts among them, from numbers the fuzz sent to, for /mo/ to hand out."""
        rng = random.Random(f"smsproxy-fuzz-replies:{self.seed}")
        simulator = self.vendor.simulator
        for n in itertools.count():
            await asyncio.sleep(REPLY_EVERY_S)
            recent = simulator.accepted[-50:]
            if recent:
                text = rng.choice(
                    ["好的", "TD", "a||b##c", "回复||退订##", random_text(rng, rng.randint(1, 40))]
                )
                # Each its own text: a reply handed out twice is then a fault, not a coincidence.
                simulator.inject_reply(rng.choice(recent).phone, f"{n}.{text}")


@contextlib.asynccontextmanager
async def remote(target: Target) -> AsyncIterator[Target]:
    """A daemon already running: nothing to start or stop."""
    yield target
