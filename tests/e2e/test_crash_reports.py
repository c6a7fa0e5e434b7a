"""kill -9 during report polls under load: no report a vendor handed out is lost or doubled.

Issue 13, item 2.  esms100 and sms.cn simulators, both polled for reports
every ``poll_interval_s``, hand out each due report once: a poll takes it
from the vendor's queue (:meth:`Simulator.due_reports`).  Subclasses here
log every hand-out: when the poll request reached the simulator, when the
answer carrying reports was produced (``time.monotonic()``, CLOCK_MONOTONIC,
which this process and the daemon's share), whether the poller's connection
was still open then, and which reports (message id, phone) it carried.

The daemon runs as a process on SQLite, under the send load and SIGKILLs of
:mod:`tests.e2e.crash_load` (single-number sends, each to its own number), and
is restarted on the same state after each kill.  Kills fall at seeded random
moments; some are then moved to the next poll answer plus 0-150 ms, or into
the next poll exchange (:class:`Aim`), where reports are at stake.  A
legacy client reads
``/qreport/`` all along and keeps every line it got.  When the load stops, the
daemon polls what is left, the client drains ``/qreport/``, and then:

* (a) no number reaches ``/qreport/`` twice (each send has its own number);
* (b) every report a simulator handed out reaches ``/qreport/``, except those
  of a poll exchange in flight at a kill, or answered less than
  :data:`WINDOW_MS` before one (the documented window: answer received, not
  yet committed);
* (c) reports never handed out (still queued at a vendor) count for nothing.

The summary gives, per vendor: handed out, delivered, lost outside and inside
the window, duplicates; and the largest ``window_ms`` of the daemon's
``poll_stored`` log lines.  A longer run::

    .venv/bin/python -m tests.e2e.test_crash_reports --kills 10 --duration 60 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import random
import socket
import struct
import sys
import tempfile
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import Handler, PendingReport, Simulator
from adapters.smscn.simulator import SmscnSimulator
from tests.e2e.crash_load import (
    CPID,
    PASSWORD,
    CrashLoad,
    Kill,
    LoadClient,
    Rig,
    drive,
    load_arguments,
    new_messages,
)
from tests.e2e.legacy_client import ReportLine, parse_reports

# A poll answered this long before a kill may be lost: the daemon had not
# committed it yet.  The daemon logs its own figure (poll_stored, window_ms).
WINDOW_MS = 50.0
VENDORS = {"esms100": (0.040, 1.0), "smscn": (0.045, 1.0)}
# The pytest run: ~2,400 reports, 5 kills in 20 s of load, polls every 0.5 s.
REPORTS_LOAD = CrashLoad(
    rate_per_s=120.0,
    duration_s=20.0,
    kills=5,
    seed=20240613,
    settle_s=2.0,
    latency_s=0.1,
    report_delay_s=0.3,
    poll_interval_s=0.5,
)
DRAIN_S = 12.0  # at most this long for the daemon to poll and hand back what is left
TCP_ESTABLISHED = 1


@dataclass(frozen=True)
class HandOut:
    """One poll answer that carried reports, as the simulator produced it."""

    vendor: str
    arrived: float  # monotonic: the poll request reached the simulator
    answered: float  # monotonic: the answer carrying the reports was produced
    peer_open: bool  # the poller's connection was still open then
    reports: tuple[tuple[str, str], ...]  # (message id, phone)


_POLL: ContextVar[tuple[float, web.Request] | None] = ContextVar("poll", default=None)


def _peer_open(request: web.Request) -> bool:
    """Whether the other end of the request's connection is still there (Linux TCP_INFO)."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return False
    sock = transport.get_extra_info("socket")
    if sock is None:
        return True
    try:
        state = struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]
    except OSError:
        return False
    # CLOSE_WAIT once a killed poller's kernel closed its end; CLOSE after a reset.
    return bool(state == TCP_ESTABLISHED)


class HandOutLog(Simulator):
    """Mixin: logs every hand-out of reports, with the moments of its poll."""

    poll_path: str  # the vendor's report poll

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.handouts: list[HandOut] = []
        # Set at every report poll's arrival and hand-out; whoever waits clears them.
        self.asked = asyncio.Event()
        self.handed = asyncio.Event()
        super().__init__(*args, **kwargs)
        # Outermost, so the arrival is stamped before the vendor's latency.
        self.app.middlewares.insert(0, self._stamp)

    @web.middleware
    async def _stamp(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        token = _POLL.set((time.monotonic(), request))
        if request.path == self.poll_path:
            self.asked.set()
        try:
            return await handler(request)
        finally:
            _POLL.reset(token)

    def due_reports(self, limit: int | None = None) -> list[PendingReport]:
        taken = super().due_reports(limit)
        poll = _POLL.get()
        if taken and poll is not None:
            arrived, request = poll
            # The answer is encoded from these right away, with no await between.
            self.handouts.append(
                HandOut(
                    self.kind,
                    arrived,
                    time.monotonic(),
                    _peer_open(request),
                    tuple((r.message.message_id, r.message.phone) for r in taken),
                )
            )
            self.handed.set()
        return taken


class LoggedEsms100(HandOutLog, Esms100Simulator):
    poll_path = "/qreport/"


class LoggedSmscn(HandOutLog, SmscnSimulator):
    poll_path = "/st/"


LOGGED: dict[str, type[HandOutLog]] = {"esms100": LoggedEsms100, "smscn": LoggedSmscn}


AIMS = ("mixed", "answers", "none")


class Aim:
    """Where each kill lands, from its seeded random moment.

    ``mixed`` (the default): the 1st, 5th, … kill just after a poll answer,
    the 3rd, 7th, … during a poll exchange, the others at their moments.
    ``answers``: every kill just after a poll answer.  ``none``: every kill
    at its moment.  Just after an answer: at the next hand-out of either
    simulator (waited for at most ``wait_s``), plus a seeded random 0 to 3
    windows, so kills fall inside the window and just past it, where a
    daemon that stores slowly loses reports.  During an exchange: at the
    next poll's arrival, plus a seeded random part of the vendor's latency,
    so the answer goes to a dead daemon (inside the window, by definition).
    """

    def __init__(
        self, sims: dict[str, HandOutLog], seed: int, window_ms: float, latency_s: float, how: str
    ) -> None:
        assert how in AIMS, how
        self.sims = sims
        self.rng = random.Random(seed)
        self.window_ms = window_ms
        self.latency_s = latency_s
        self.how = how
        self.wait_s = 3.0

    async def __call__(self, i: int) -> None:
        after_answer_s = self.rng.uniform(0.0, 3 * self.window_ms) / 1000
        in_exchange_s = self.rng.uniform(0.0, self.latency_s)
        if self.how == "answers" or (self.how == "mixed" and i % 4 == 0):
            await self._next([sim.handed for sim in self.sims.values()])
            await asyncio.sleep(after_answer_s)
        elif self.how == "mixed" and i % 4 == 2:
            await self._next([sim.asked for sim in self.sims.values()])
            await asyncio.sleep(in_exchange_s)

    async def _next(self, events: list[asyncio.Event]) -> None:
        for event in events:
            event.clear()
        waits = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waits, timeout=self.wait_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()


class ReportReader:
    """A legacy client reading /qreport/ without pause; what it read, it keeps."""

    def __init__(self, url: str) -> None:
        cppwd = hashlib.md5(PASSWORD.encode()).hexdigest().upper()
        self.url = f"{url}/qreport/?cpid={CPID}&cppwd={cppwd}"
        self.lines: list[ReportLine] = []
        self.reads = 0
        self.refused = 0  # no daemon listening
        self.cut = 0  # the request went out and no answer came (a kill)
        self.last_new = time.monotonic()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=3.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self.stop.is_set():
                self.reads += 1
                try:
                    async with session.get(self.url) as resp:
                        assert resp.status == 200, resp.status
                        body = await resp.read()
                except aiohttp.ClientConnectorError:
                    self.refused += 1
                    await self._pause(0.05)
                    continue
                except (aiohttp.ClientError, OSError, TimeoutError):
                    self.cut += 1
                    await self._pause(0.05)
                    continue
                batch = parse_reports(body)
                self.lines += batch
                if batch:
                    self.last_new = time.monotonic()
                else:
                    await self._pause(0.05)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)


@dataclass
class VendorFigures:
    handed_out: int = 0
    delivered: int = 0
    lost_outside: int = 0
    lost_inside: int = 0
    duplicates: int = 0


@dataclass
class ReportsResult:
    load: CrashLoad
    kills: list[Kill]
    handouts: list[HandOut]
    lines: list[ReportLine]
    pending: dict[str, int]  # reports still queued at each vendor: never handed out
    books: dict[str, list[str]]  # vendor → the numbers it accepted
    reader: dict[str, int]
    windows_ms: dict[str, list[float]]  # the daemon's poll_stored *_ms figures, by field
    inbox: dict[str, int]  # the daemon's /reports/unmatched counts at the end
    wall_s: float
    window_ms: float = WINDOW_MS
    vendor_of: dict[str, str] = field(default_factory=dict)  # phone → vendor that handed it out

    def __post_init__(self) -> None:
        for h in self.handouts:
            for _, phone in h.reports:
                self.vendor_of.setdefault(phone, h.vendor)

    def excused(self, h: HandOut) -> bool:
        """Whether a hand-out falls in the documented window of some kill."""
        w = self.window_ms / 1000
        for k in self.kills:
            # Asked by the killed daemon (the next one was not started before it
            # was reaped), answered after the kill or less than W before it.
            if h.arrived <= k.dead and h.answered + w >= k.killed:
                return True
            # Read by the simulator after the kill, answered to a closed connection.
            if not h.peer_open and k.killed <= h.answered <= k.killed + 5.0:
                return True
        return False

    def exercised(self) -> list[str]:
        """What makes the run short of what it claims to test: nothing, normally."""
        sends = int(self.load.rate_per_s * self.load.duration_s)
        figures = self.figures()
        handed = sum(f.handed_out for f in figures.values())
        problems = []
        if len(self.kills) != self.load.kills:
            problems.append(f"{len(self.kills)} kills of {self.load.kills}")
        if handed < 0.8 * sends:
            problems.append(f"{handed} reports handed out for {sends} sends")
        problems += [
            f"{vendor} handed out only {f.handed_out}"
            for vendor, f in figures.items()
            if f.handed_out < 0.2 * sends
        ]
        if sum(self.pending.values()) > 0.05 * sends:
            problems.append(f"{sum(self.pending.values())} reports never polled")
        return problems

    def since_answer_ms(self, kill: Kill) -> str:
        """How long before the kill the last poll answer with reports was produced."""
        before = [h.answered for h in self.handouts if h.answered <= kill.killed]
        return f"{1000 * (kill.killed - max(before)):.0f}" if before else "-"

    def handed_out(self) -> Counter[str]:
        return Counter(phone for h in self.handouts for _, phone in h.reports)

    def delivered(self) -> Counter[str]:
        return Counter(line.phone for line in self.lines)

    def lost(self) -> tuple[list[str], list[str]]:
        """Numbers handed out that never reached /qreport/: (outside, inside) the window."""
        got = self.delivered()
        outside: list[str] = []
        inside: list[str] = []
        for h in self.handouts:
            missing = [phone for _, phone in h.reports if phone not in got]
            (inside if self.excused(h) else outside).extend(missing)
        return outside, inside

    def duplicates(self) -> list[str]:
        return sorted(phone for phone, n in self.delivered().items() if n > 1)

    def unexplained(self) -> list[str]:
        """Numbers in /qreport/ that no simulator handed out (should be none)."""
        handed = self.handed_out()
        return sorted(phone for phone in self.delivered() if phone not in handed)

    def sent_twice(self) -> list[str]:
        held = Counter(phone for book in self.books.values() for phone in book)
        return sorted(phone for phone, n in held.items() if n > 1)

    def figures(self) -> dict[str, VendorFigures]:
        out = {vendor: VendorFigures() for vendor in self.books}
        got = self.delivered()
        for phone, n in self.handed_out().items():
            out[self.vendor_of[phone]].handed_out += n
            out[self.vendor_of[phone]].delivered += phone in got
        outside, inside = self.lost()
        for phone in outside:
            out[self.vendor_of[phone]].lost_outside += 1
        for phone in inside:
            out[self.vendor_of[phone]].lost_inside += 1
        for phone in self.duplicates():
            out[self.vendor_of.get(phone, "?")].duplicates += 1
        return out

    def summary(self) -> str:
        load = self.load
        excused = sum(self.excused(h) for h in self.handouts)
        window = "daemon poll_stored: " + (
            "; ".join(
                f"{name} max {max(values):g}, p99 {quantile(values, 0.99):g}, "
                f"median {quantile(values, 0.5):g} ({len(values)} lines)"
                for name, values in sorted(self.windows_ms.items())
            )
            or "no such log line with a *_ms figure"
        )
        w = self.window_ms / 1000
        before = sum(
            any(h.answered < k.killed <= h.answered + w for k in self.kills) for h in self.handouts
        )
        lines = [
            f"{int(load.rate_per_s * load.duration_s)} sends at {load.rate_per_s:g}/s for "
            f"{load.duration_s:g} s, polls every {load.poll_interval_s:g} s, report delay "
            f"{load.report_delay_s:g} s, vendor latency {load.latency_s:g} s, seed {load.seed}, "
            f"window {self.window_ms:g} ms, wall {self.wall_s:.1f} s",
            f"{len(self.kills)} kills: "
            + ", ".join(
                f"{k.at_s:.1f}s ({self.since_answer_ms(k)} ms after a poll answer, "
                f"back in {k.restart_s:.1f}s)"
                for k in self.kills
            ),
            f"polls with reports: {len(self.handouts)}, {excused} of them in a kill's window "
            f"({before} answered less than {self.window_ms:g} ms before the kill, "
            f"{excused - before} in flight at it)",
            f"/qreport/ reads: {self.reader['reads']}, {len(self.lines)} lines, "
            f"{self.reader['cut']} cut by a kill, {self.reader['refused']} refused",
        ]
        for vendor, f in self.figures().items():
            lines.append(
                f"{vendor}: handed out {f.handed_out}, delivered {f.delivered}, "
                f"lost outside the window {f.lost_outside}, lost inside the window "
                f"{f.lost_inside}, duplicates {f.duplicates}; still at the vendor "
                f"{self.pending.get(vendor, 0)} (not counted), accepted {len(self.books[vendor])}"
            )
        lines += [
            f"in /qreport/ but never handed out: {len(self.unexplained())}; numbers accepted "
            f"twice by the vendors: {len(self.sent_twice())}; daemon's unmatched reports: "
            f"{self.inbox or 'none'}",
            window,
        ]
        return "\n".join(lines)

    def examples(self, n: int = 8) -> str:
        """The poll answers that lost reports outside the window, and some duplicates."""
        got = self.delivered()
        kills = [k.killed for k in self.kills]
        polls = []
        for h in self.handouts:
            missing = [phone for _, phone in h.reports if phone not in got]
            if not missing or self.excused(h):
                continue
            near = min(kills, key=lambda k: abs(k - h.answered), default=h.answered)
            polls.append(
                f"{h.vendor} poll answered {1000 * (h.answered - near):+.0f} ms from the "
                f"nearest kill (asked {1000 * (h.answered - h.arrived):.0f} ms before, "
                f"connection open {h.peer_open}): {len(missing)} of {len(h.reports)} lost, "
                f"e.g. {missing[0]}"
            )
        return (
            f"lost outside the window, by poll answer ({len(polls)}):\n  "
            + "\n  ".join(polls[:n])
            + "\ntwice in /qreport/, e.g. "
            + ", ".join(self.duplicates()[:n])
        )

    def dump(self, path: Path) -> None:
        """Every kill and hand-out (monotonic seconds), and which numbers came back."""
        got = self.delivered()
        record = {
            "kills": [dataclasses.asdict(k) for k in self.kills],
            "handouts": [
                {
                    **dataclasses.asdict(h),
                    "excused": self.excused(h),
                    "missing": [p for _, p in h.reports if p not in got],
                }
                for h in self.handouts
            ],
        }
        path.write_text(json.dumps(record, indent=1), encoding="utf-8")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def poll_windows(workdir: Path) -> dict[str, list[float]]:
    """The *_ms figures (window_ms, …) of the daemons' poll_stored lines, by field.

    A killed run's log may end mid-line: such a line is skipped.
    """
    found: dict[str, list[float]] = {}
    for log in sorted(workdir.glob("daemon-*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or record.get("event") != "poll_stored":
                continue
            for name, value in record.items():
                if name.endswith("_ms") and isinstance(value, int | float):
                    found.setdefault(name, []).append(float(value))
    return found


async def run_reports(
    load: CrashLoad, workdir: Path, window_ms: float = WINDOW_MS, aim: str = "mixed"
) -> ReportsResult:
    sims: dict[str, HandOutLog] = {}

    def simulator(kind: str) -> Simulator:
        sims[kind] = LOGGED[kind]()
        return sims[kind]

    rig = Rig(workdir, load, VENDORS, simulator)
    began = time.monotonic()
    try:
        daemon = await rig.start()
        reader = ReportReader(rig.legacy_url)
        reading = asyncio.ensure_future(reader.run())
        try:
            client = LoadClient(rig.legacy_url, load, random.Random(load.seed + 1))
            aiming = Aim(sims, load.seed + 2, window_ms, load.latency_s, aim)
            kills = await drive(daemon, client, new_messages(load), aiming)
            # Load over: the daemon polls what is left and the reader drains it.
            quiet_s = max(2.0, 4 * load.poll_interval_s)
            deadline = time.monotonic() + DRAIN_S
            while time.monotonic() < deadline and not reading.done():
                left = sum(len(sim.reports) for sim in sims.values())
                handed = {p for sim in sims.values() for h in sim.handouts for _, p in h.reports}
                missing = handed - {line.phone for line in reader.lines}
                quiet = time.monotonic() - reader.last_new > quiet_s
                if left == 0 and (not missing or quiet):
                    break
                await asyncio.sleep(0.1)
            # Time for a late duplicate to show.
            await asyncio.sleep(max(1.0, 2 * load.poll_interval_s))
        finally:
            reader.stop.set()
            await reading  # a failed parse or assert in the reader surfaces here
        inbox = await daemon.inbox()
        await daemon.stop()
        return ReportsResult(
            load,
            kills,
            sorted((h for sim in sims.values() for h in sim.handouts), key=lambda h: h.answered),
            reader.lines,
            {name: len(sim.reports) for name, sim in sims.items()},
            {name: [m.phone for m in sim.accepted] for name, sim in sims.items()},
            {"reads": reader.reads, "cut": reader.cut, "refused": reader.refused},
            poll_windows(workdir),
            inbox,
            time.monotonic() - began,
            window_ms,
        )
    finally:
        await rig.stop()


async def test_sigkill_during_polls_loses_no_handed_out_report_and_doubles_none(
    tmp_path: Path,
) -> None:
    load = REPORTS_LOAD
    result = await run_reports(load, tmp_path)
    summary = result.summary()
    print(summary)
    detail = summary + "\n" + result.examples()

    # The run did what it says: every kill happened, both vendors handed out
    # most of the load's reports; (c) what no poll took counts for nothing.
    assert result.exercised() == [], summary
    figures = result.figures()
    # (a) No report twice.
    assert sum(f.duplicates for f in figures.values()) == 0, detail
    # (b) Every report handed out reached /qreport/, but for a kill's window.
    assert sum(f.lost_outside for f in figures.values()) == 0, detail
    # Nothing in /qreport/ that no vendor handed out.
    assert result.unexplained() == [], detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.test_crash_reports", description=__doc__.split("\n\n")[0]
    )
    d = REPORTS_LOAD
    load_arguments(parser, d)
    parser.add_argument("--poll", type=float, default=d.poll_interval_s, help="poll every S s")
    parser.add_argument("--report-delay", type=float, default=d.report_delay_s)
    parser.add_argument("--window-ms", type=float, default=WINDOW_MS)
    parser.add_argument(
        "--aim",
        choices=AIMS,
        default="mixed",
        help="kill just after poll answers and during polls as well (mixed), only after "
        "answers, or only at random moments (none)",
    )
    args = parser.parse_args(argv)
    load = replace(
        d,
        rate_per_s=args.rate,
        duration_s=args.duration,
        kills=args.kills,
        seed=args.seed,
        latency_s=args.latency,
        poll_interval_s=args.poll,
        report_delay_s=args.report_delay,
    )
    if args.workdir and (args.workdir / "state.sqlite3").exists():
        parser.error(f"{args.workdir} holds an earlier run's state: give an empty directory")
    from proxy.event_loop import loop_factory

    with tempfile.TemporaryDirectory(prefix="crash-reports-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            result = runner.run(run_reports(load, workdir, args.window_ms, args.aim))
            if args.workdir:
                result.dump(workdir / "handouts.json")
    print(result.summary())
    figures = result.figures()
    failed = any(f.lost_outside or f.duplicates for f in figures.values())
    if failed or result.unexplained() or result.exercised():
        print(result.examples())
        print("not exercised: " + "; ".join(result.exercised()) if result.exercised() else "")
        print("FAIL")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
