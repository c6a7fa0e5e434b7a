"""The daemon killed with SIGKILL at random moments under load, judged by the vendors' books.

Three vendor simulators in this process answer every send after ``latency_s``;
the daemon runs as a real process on SQLite, on fixed ports and one state
file, and is killed (SIGKILL) and restarted at seeded random moments.  A
legacy client sends one message per number, each with its own text, at
``rate_per_s`` and, like a real one, resends every send that got no answer
or a non-zero answer, with the same cpid, phone and text, until it is
answered ``0`` or the run ends.  What the vendors accepted then decides:

* no (number, text) accepted twice, by one vendor or by two (no SMS twice);
* every message the client was answered ``0`` for is held by a vendor.

A message may end answered ``-17``: it was in flight at a vendor when the
daemon died, and stays unresolved while ``routing.unresolved_expire_s`` (longer
than a run) has not passed and no delivery report resolved it.

``tests/e2e/test_crash_exactly_once.py`` runs a short version; a longer one::

    .venv/bin/python -m tests.e2e.crash_load --kills 10 --duration 60 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from yarl import URL

from adapters.form import quote
from adapters.simulator import Simulator, SimulatorServer
from adapters.simulators import VENDOR_KINDS
from tests.conftest import ADMIN_TOKEN
from tests.e2e.daemon_process import DaemonProcess, free_port, toml_value, write_config

CPID, PASSWORD = "acme", "acme-pass"
KINDS = {vk.kind: vk for vk in VENDOR_KINDS}
# The cheapest takes half; a retry may land on another vendor than the first try.
VENDORS = {"esms100": (0.040, 2.0), "smscn": (0.045, 1.0), "c123": (0.050, 1.0)}
NO_ANSWER = "no answer"


@dataclass(frozen=True)
class CrashLoad:
    """One run's knobs; the defaults are the pytest version's."""

    rate_per_s: float = 150.0  # new messages a second, each to its own number
    duration_s: float = 20.0  # new messages start during this long
    kills: int = 5  # SIGKILLs, at seeded random moments of the duration
    seed: int = 20240612
    settle_s: float = 5.0  # resends go on this long after the last new message
    latency_s: float = 0.2  # every vendor's answer to a send
    client_timeout_s: float = 6.0  # the legacy client's HTTP time-out
    unresolved_expire_s: float = 300.0  # longer than a run: unresolved ones stay so
    report_delay_s: float = 0.2  # from a vendor's acceptance to its report being due
    poll_interval_s: float = 1.0  # reports.poll_interval_override_s


@dataclass
class Message:
    phone: str
    text: str
    attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    last: str = ""
    zero: bool = False  # answered 0 at least once


@dataclass
class Kill:
    at_s: float  # since the load began
    outstanding: int  # client requests without an answer at that moment
    restart_s: float  # from SIGKILL to listening again
    killed: float = 0.0  # time.monotonic() just before the SIGKILL
    dead: float = 0.0  # time.monotonic() once the killed process was reaped


@dataclass
class CrashResult:
    load: CrashLoad
    messages: list[Message]
    kills: list[Kill]
    books: dict[str, list[tuple[str, str]]]  # vendor → (phone, text) it accepted, in order
    wall_s: float

    def held(self) -> Counter[tuple[str, str]]:
        return Counter(entry for book in self.books.values() for entry in book)

    def duplicates(self) -> dict[tuple[str, str], list[str]]:
        """Each (phone, text) accepted more than once, with the vendors that took it."""
        held = self.held()
        twice = {key for key, n in held.items() if n > 1}
        out: dict[tuple[str, str], list[str]] = {key: [] for key in twice}
        for vendor, book in self.books.items():
            for entry in book:
                if entry in out:
                    out[entry].append(vendor)
        return out

    def false_zeros(self) -> list[Message]:
        """Messages the client was answered 0 for that no vendor holds."""
        held = self.held()
        return [m for m in self.messages if m.zero and (m.phone, m.text) not in held]

    def summary(self) -> str:
        dups = self.duplicates()
        across = sum(1 for vendors in dups.values() if len(set(vendors)) > 1)
        last = Counter(m.last for m in self.messages if not m.zero)
        answers: Counter[str] = Counter()
        for m in self.messages:
            answers.update(m.answers)
        load = self.load
        lines = [
            f"{len(self.messages)} messages at {load.rate_per_s:g}/s for {load.duration_s:g} s, "
            f"vendor latency {load.latency_s:g} s, seed {load.seed}, wall {self.wall_s:.1f} s",
            f"{len(self.kills)} kills: "
            + ", ".join(
                f"{k.at_s:.1f}s ({k.outstanding} in flight, back in {k.restart_s:.1f}s)"
                for k in self.kills
            ),
            f"answered 0: {sum(m.zero for m in self.messages)}; never 0, by last answer: "
            f"{dict(last) or 'none'}",
            f"requests: {sum(m.attempts for m in self.messages)}, answers: {dict(answers)}",
            "vendors' books: "
            + ", ".join(f"{v} {len(book)}" for v, book in self.books.items())
            + f"; {len(self.held())} distinct (number, text)",
            f"sent twice: {len(dups)} numbers ({across} via two vendors, "
            f"{len(dups) - across} twice at one vendor)",
            f"answered 0 with no vendor holding it: {len(self.false_zeros())}",
        ]
        return "\n".join(lines)

    def examples(self, n: int = 5) -> str:
        dups = sorted(self.duplicates().items())[:n]
        zeros = self.false_zeros()[:n]
        return (
            "sent twice, e.g. "
            + "; ".join(f"{p} via {vs}" for (p, _), vs in dups)
            + "\nanswered 0 but held nowhere, e.g. "
            + "; ".join(f"{m.phone} answers {dict(m.answers)}" for m in zeros)
        )


def kill_times(load: CrashLoad, rng: random.Random) -> list[float]:
    """One moment in each of ``kills`` equal slots of the load, after a short warm-up."""
    start, end = 1.5, load.duration_s - 0.5
    slot = (end - start) / max(load.kills, 1)
    return [start + slot * (i + rng.uniform(0.1, 0.9)) for i in range(load.kills)]


class _DeadPeer(logging.Filter):
    """Drop aiohttp's report of a request whose sender died: here, the daemon, on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionResetError)


class Rig:
    """The simulators, the daemon process and its config, all on loopback ports that stay.

    ``vendors`` maps each vendor kind to its (price, routing weight);
    ``simulator`` makes the simulator of a kind (the registry's by default).
    """

    def __init__(
        self,
        workdir: Path,
        load: CrashLoad,
        vendors: Mapping[str, tuple[float, float]] = VENDORS,
        simulator: Callable[[str], Simulator] | None = None,
        state: Mapping[str, object] | None = None,
        quota: int | None = None,
    ) -> None:
        self.workdir = workdir
        # The [state] table: a SQLite file in the work directory unless given.
        self.state = dict(state) if state is not None else {"path": str(workdir / "state.sqlite3")}
        self.quota = quota  # the client's, when it has one
        self.load = load
        self.vendors = dict(vendors)
        self.make_simulator = simulator or (lambda kind: KINDS[kind].simulator())
        self.sims: dict[str, Simulator] = {}
        self.servers: list[SimulatorServer] = []
        self.daemon: DaemonProcess | None = None
        self.legacy_url = ""
        self._quiet = _DeadPeer()

    async def start(self) -> DaemonProcess:
        # A simulator reading the body of a send the killed daemon left (c123
        # POSTs) fails with ConnectionResetError: expected, and not accepted.
        logging.getLogger("aiohttp.server").addFilter(self._quiet)
        vendors = []
        for name, (price, _) in self.vendors.items():
            sim = self.make_simulator(name)
            sim.faults.latency_s = self.load.latency_s
            sim.faults.report_delay_s = self.load.report_delay_s
            server = SimulatorServer(sim)
            await server.start()
            self.sims[name], self.servers = sim, [*self.servers, server]
            vendors.append(
                {
                    "kind": name,
                    "name": name,
                    "base_url": server.url,
                    "price_per_segment": price,
                    "rate_per_s": 2000,
                    "connect_timeout_s": 0.5,
                    "timeout_s": 2.0,
                    **sim.credentials(),
                }
            )
        ports = {name: free_port() for name in ("legacy", "admin", "push")}
        self.legacy_url = f"http://127.0.0.1:{ports['legacy']}"
        routing = {
            "send_deadline_s": 3.0,
            "dedup_window_s": 600,
            "unresolved_expire_s": self.load.unresolved_expire_s,
        }
        config = self.workdir / "smsproxy.toml"
        write_config(
            config,
            {
                "listen": {name: f"127.0.0.1:{port}" for name, port in ports.items()},
                "state": self.state,
                "routing": routing,
                "shutdown": {"grace_s": 2},
                "admin": {"token": ADMIN_TOKEN},
                # Reports come back within the run, to resolve what a crash left unresolved.
                "reports": {"poll_interval_override_s": self.load.poll_interval_s},
            },
            {
                "clients": [
                    {
                        "cpid": CPID,
                        "password": PASSWORD,
                        "rate_per_s": 100000,
                        **({} if self.quota is None else {"quota": self.quota}),
                    }
                ],
                "vendors": vendors,
            },
        )
        weights = ", ".join(f"{name} = {toml_value(w)}" for name, (_, w) in self.vendors.items())
        with config.open("a", encoding="utf-8") as out:
            out.write(
                '[[rules]]\nname = "all"\n'
                f"vendors = [{', '.join(toml_value(v) for v in self.vendors)}]\n"
                f'strategy = "weighted"\nweights = {{ {weights} }}\n'
            )
        self.daemon = DaemonProcess(config, self.workdir)
        await self.daemon.start()
        return self.daemon

    async def stop(self) -> None:
        if self.daemon is not None:
            await self.daemon.stop()
        for server in self.servers:
            await server.stop()
        logging.getLogger("aiohttp.server").removeFilter(self._quiet)

    def books(self) -> dict[str, list[tuple[str, str]]]:
        return {name: [(m.phone, m.text) for m in sim.accepted] for name, sim in self.sims.items()}


class LoadClient:
    """A legacy client that resends every send not answered 0, as it was first sent."""

    def __init__(self, url: str, load: CrashLoad, rng: random.Random) -> None:
        self.url = url
        self.load = load
        self.rng = rng
        self.cppwd = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
        self.outstanding = 0
        self.stop = asyncio.Event()

    async def attempt(self, session: aiohttp.ClientSession, m: Message) -> str:
        query = (
            f"cpid={CPID}&cppwd={self.cppwd}&phone={m.phone}&msgtext={quote(m.text)}&encode=utf8"
        )
        self.outstanding += 1
        try:
            async with session.get(URL(f"{self.url}/mt/?{query}", encoded=True)) as resp:
                body = (await resp.read()).decode("ascii", "replace").strip()
                return body if resp.status == 200 else f"HTTP {resp.status}"
        except (aiohttp.ClientError, OSError, TimeoutError):
            return NO_ANSWER
        finally:
            self.outstanding -= 1

    async def deliver(self, session: aiohttp.ClientSession, m: Message) -> None:
        backoff = 0.2
        while not self.stop.is_set():
            m.attempts += 1
            m.last = await self.attempt(session, m)
            m.answers[m.last] += 1
            if m.last == "0":
                m.zero = True
                return
            # Connection refused while the daemon restarts, or -17: try again soon.
            await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.5))
            backoff = min(backoff * 1.5, 1.0)


def new_messages(load: CrashLoad) -> list[Message]:
    """The load: one message per number, each with its own text."""
    return [
        Message(f"139{i:08d}", f"【ACME】您的订单 {i:06d} 已发货，请注意查收")
        for i in range(int(load.rate_per_s * load.duration_s))
    ]


async def drive(
    daemon: DaemonProcess,
    client: LoadClient,
    messages: list[Message],
    aim: Callable[[int], Awaitable[None]] | None = None,
) -> list[Kill]:
    """Send ``messages`` at the load's rate while killing and restarting the daemon.

    Returns once every kill is done and every message was answered 0 or the
    load's ``settle_s`` passed after the last new one, with no client request
    left in flight.  ``aim(i)``, when given, is awaited at the ``i``-th kill's
    seeded moment and the kill follows at once: it can wait for an event to
    kill in (the moment is then the end of that wait).
    """
    load = client.load
    kills: list[Kill] = []
    t0 = time.monotonic()

    async def killer() -> None:
        for i, at in enumerate(kill_times(load, random.Random(load.seed))):
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            if aim is not None:
                await aim(i)
            outstanding = client.outstanding
            killed = time.monotonic()
            daemon.kill()
            await daemon.wait_dead()
            dead = time.monotonic()
            await daemon.start()
            back = time.monotonic() - killed
            kills.append(Kill(killed - t0, outstanding, back, killed, dead))

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=load.client_timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks: list[asyncio.Task[None]] = []
        killing = asyncio.ensure_future(killer())
        try:
            for i, m in enumerate(messages):
                await asyncio.sleep(max(0.0, t0 + i / load.rate_per_s - time.monotonic()))
                if killing.done():
                    killing.result()  # a restart failed: stop here, with its error
                tasks.append(asyncio.ensure_future(client.deliver(session, m)))
            await killing
            # Resends go on until every message is answered 0, or for settle_s.
            await asyncio.wait(tasks, timeout=load.settle_s)
        finally:
            client.stop.set()
            killing.cancel()
            # Each ends after its request in flight: bounded by the client's time-out.
            await asyncio.gather(*tasks, killing, return_exceptions=True)
    return kills


async def run(load: CrashLoad, workdir: Path) -> CrashResult:
    rig = Rig(workdir, load)
    began = time.monotonic()
    try:
        daemon = await rig.start()
        client = LoadClient(rig.legacy_url, load, random.Random(load.seed + 1))
        messages = new_messages(load)
        kills = await drive(daemon, client, messages)
        # The daemon drains; then every vendor request it made has been answered.
        await daemon.stop()
        await asyncio.sleep(load.latency_s * 2)
        return CrashResult(load, messages, kills, rig.books(), time.monotonic() - began)
    finally:
        await rig.stop()


def load_arguments(parser: argparse.ArgumentParser, defaults: CrashLoad) -> None:
    """The options every longer crash run takes: how much load, how many kills, where."""
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of new messages")
    parser.add_argument("--rate", type=float, default=200.0, help="new messages a second")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--latency", type=float, default=defaults.latency_s, help="vendor answer, s"
    )
    parser.add_argument("--workdir", type=Path, help="keep the config, state and daemon logs here")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.crash_load", description=__doc__.split("\n\n")[0]
    )
    defaults = CrashLoad()
    load_arguments(parser, defaults)
    parser.add_argument("--settle", type=float, default=defaults.settle_s)
    parser.add_argument(
        "--expire",
        type=float,
        default=defaults.unresolved_expire_s,
        help="routing.unresolved_expire_s (shorter than the run: expiry is exercised too)",
    )
    args = parser.parse_args(argv)
    load = CrashLoad(
        rate_per_s=args.rate,
        duration_s=args.duration,
        kills=args.kills,
        seed=args.seed,
        settle_s=args.settle,
        latency_s=args.latency,
        unresolved_expire_s=args.expire,
    )
    from proxy.event_loop import loop_factory

    with tempfile.TemporaryDirectory(prefix="crash-load-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(run(load, workdir))
    print(result.summary())
    if result.duplicates() or result.false_zeros():
        print(result.examples())
        print("FAIL")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
