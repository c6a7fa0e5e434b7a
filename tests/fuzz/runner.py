"""Playing cases against the legacy port over a bounded number of connections.

``connections`` workers take the cases in turn.  A worker keeps a
connection its last keep-alive request left open and runs the next
parameter-level case on it, as a client with a connection pool would; a
raw-HTTP case always gets a connection of its own.  When a kept connection
turns out closed (the daemon's keep-alive time-out), the case is played
again on a new one, as real clients do.  Each case's writes and reads run
side by side: the daemon may answer before a request is all written.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.fuzz.answers import Answer, BadAnswer, read_answer
from tests.fuzz.case import Case
from tests.fuzz.oracle import Ending, Exchange, answer_code, handed_out, judge

# Failures kept to print in full; beyond them only counted.
FAILURES_KEPT = 50


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    cases: list[int] = field(default_factory=list)  # played on it so far

    def close(self, reset: bool = False) -> None:
        if reset:
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER 0: the close is a reset, not a FIN.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        else:
            self.writer.close()


@dataclass
class Played:
    case: Case
    answers: list[Answer]
    ending: Ending
    faults: list[str]
    seconds: float
    before: tuple[int, ...] = ()  # cases played earlier on the same connection
    written: bool = True  # every write went out before the reading stopped

    def describe(self) -> str:
        lines = [self.case.describe()]
        if self.before:
            lines.append(f"  on a connection that carried cases {list(self.before)[-10:]} first")
        lines.append(f"  answers: {[str(a) for a in self.answers][:10]}; {self.ending.value}")
        lines += [f"  FAULT: {fault}" for fault in self.faults]
        return "\n".join(lines)


@dataclass
class Tally:
    cases: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # "/mt/ -1": 200 answers by code
    # Report lines and reply records handed out, each with its endpoint: once each.
    handed: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    failures: list[Played] = field(default_factory=list)
    slowest_s: float = 0.0

    def add(self, played: Played) -> None:
        self.cases += 1
        self.labels[played.case.label] += 1
        self.slowest_s = max(self.slowest_s, played.seconds)
        final = [a for a in played.answers if not 100 <= a.status < 200]
        for i, answer in enumerate(final):
            self.statuses[answer.status] += 1
            requests = played.case.requests
            endpoint = requests[i].endpoint if i < len(requests) else None
            if answer.status == 200 and endpoint is not None:
                code = answer_code(endpoint, answer.body)
                shown = "invalid" if code is None else "success" if code == 0 else str(code)
                self.codes[f"/{endpoint}/ {shown}"] += 1
                for item in handed_out(endpoint, answer.body):
                    self.handed[f"/{endpoint}/ {item}"] += 1
        if played.faults:
            self.failed += 1
            if len(self.failures) < FAILURES_KEPT:
                self.failures.append(played)


class Runner:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        connections: int,
        within_s: float,
        timeout_s: float = 0.0,
        on_played: Callable[[Played], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.connections = connections
        self.within_s = within_s  # an answer's bound, beyond the case's own pauses
        self.timeout_s = timeout_s  # the target's shortest head or body time-out
        self.on_played = on_played
        self.tally = Tally()

    def __repr__(self) -> str:
        return f"<Runner {self.host}:{self.port} connections={self.connections}>"

    async def run(self, cases: Iterator[Case]) -> Tally:
        # One iterator for all workers: each takes the next case when free.
        await asyncio.gather(*(self._worker(cases) for _ in range(self.connections)))
        return self.tally

    async def _worker(self, cases: Iterator[Case]) -> None:
        kept: Connection | None = None
        for case in cases:
            try:
                played, kept = await self.play(case, kept)
            except Exception as exc:  # the runner's own fault: it must not hide the others
                played = Played(case, [], Ending.RESET, [f"the runner failed: {exc!r}"], 0.0)
                if kept is not None:
                    kept.close()
                kept = None
            self.tally.add(played)
            if self.on_played is not None:
                self.on_played(played)
        if kept is not None:
            kept.close()

    async def play(self, case: Case, kept: Connection | None) -> tuple[Played, Connection | None]:
        """Play one case; the connection kept for the next, if any."""
        conn: Connection | None = None
        if case.shares_connection and kept is not None:
            conn, kept = kept, None
        reused = conn is not None
        if conn is None:
            conn = await self._connect()
            if conn is None:
                return self._unconnected(case), kept
        played = await self._exchange(case, conn)
        if reused and not played.answers and played.ending in (Ending.EOF, Ending.RESET):
            conn.close()  # it had timed out idle: a client tries a new connection
            conn = await self._connect()
            if conn is None:
                return self._unconnected(case), kept
            played = await self._exchange(case, conn)
        keep = (
            case.shares_connection
            and played.ending is Ending.ENOUGH
            and played.written
            and not played.faults
            and kept is None
        )
        if keep:
            return played, conn
        conn.close(reset=case.hangup and case.reset)
        return played, kept

    async def _connect(self) -> Connection | None:
        try:
            async with asyncio.timeout(self.within_s):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError):
            return None
        return Connection(reader, writer)

    def _unconnected(self, case: Case) -> Played:
        return Played(case, [], Ending.RESET, ["could not connect to the daemon"], 0.0)

    async def _exchange(self, case: Case, conn: Connection) -> Played:
        started = time.monotonic()
        before = tuple(conn.cases)
        conn.cases.append(case.index)
        writing = asyncio.create_task(self._write(case, conn))
        answers: list[Answer] = []
        arrivals: list[float] = []
        faults: list[str] = []
        ending = Ending.EOF
        try:
            if case.hangup:
                await writing
                ending = Ending.HUNG_UP
            else:
                ending = await self._read(case, conn, answers, arrivals, started)
        except TimeoutError:
            ending = Ending.TIMEOUT
        except (ConnectionError, OSError):
            ending = Ending.RESET
        except BadAnswer as bad:
            faults.append(f"not an HTTP answer: {bad}")
        finally:
            if ending is Ending.ENOUGH and not writing.done():
                await asyncio.wait({writing}, timeout=1.0)  # its last drain may be pending
            written = writing.done()
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing
        seconds = time.monotonic() - started
        got = Exchange(
            answers, ending, case.takes_s + self.within_s, arrivals, seconds, self.timeout_s
        )
        faults += judge(case, got)
        return Played(case, answers, ending, faults, seconds, before, written)

    async def _read(
        self,
        case: Case,
        conn: Connection,
        answers: list[Answer],
        arrivals: list[float],
        started: float,
    ) -> Ending:
        """Answers as they come, and when each came (seconds since ``started``)."""
        final = 0
        async with asyncio.timeout(case.takes_s + self.within_s):
            while True:
                request = case.requests[final] if final < len(case.requests) else None
                answer = await read_answer(conn.reader, request is not None and request.head)
                if answer is None:
                    return Ending.EOF
                answers.append(answer)
                arrivals.append(time.monotonic() - started)
                if 100 <= answer.status < 200:
                    continue
                final += 1
                if case.answers is not None and final >= case.answers and not answer.closes:
                    return Ending.ENOUGH

    @staticmethod
    async def _write(case: Case, conn: Connection) -> None:
        # The daemon may answer and close before all is written: that is its
        # right.  (uvloop says so with a RuntimeError, asyncio with OSErrors.)
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            for write in case.writes:
                if write.pause_s:
                    await asyncio.sleep(write.pause_s)
                if conn.writer.is_closing():
                    return
                conn.writer.write(write.data)
                await conn.writer.drain()
