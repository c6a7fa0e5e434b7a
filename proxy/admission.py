"""Fair admission of sends: a flood from one client cannot starve another's.

A send takes one of ``legacy.max_sends_in_flight`` turns before it does any
work.  When none is free it waits, but not in one line: each client has its
own line, and a freed turn goes to the clients in rotation, one send each, so
a client with thousands waiting delays another's send by at most one turn of
each client waiting.  Two bounds answer ``-15`` at once rather than queue:

``client_limit``  the client already has ``legacy.max_sends_in_flight_per_client``
                  sends under way or waiting;
``saturated``     ``legacy.max_sends_waiting`` sends, all clients, are waiting.
                  The waiting room is shared fairly too: a client with fewer
                  waiting still gets in, and the client with the most waiting
                  gives up its newest one (answered ``-15``) in its place.

The limits count on this daemon only (several behind a balancer each count
their own).  A reload keeps the one :class:`FairAdmission` (sends on the old
engine give their turns back to it) and applies the new limits to it.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, NoReturn, Protocol

import structlog

from config.settings import LegacySettings

log = structlog.get_logger("smsproxy.admission")

Reason = Literal["client_limit", "saturated"]
REASONS: tuple[Reason, ...] = ("client_limit", "saturated")
# A flood is refused thousands of times a second: the log gets one line for
# the first refusal and then one summary an interval while refusals go on.
LOG_EVERY_S = 10.0


class Busy(Exception):
    """The send was not admitted; answer ``-15``."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


class RefusalObserver(Protocol):
    def send_refused_busy(self, client: str, reason: Reason) -> None: ...


@dataclass(frozen=True)
class AdmissionLimits:
    in_flight: int  # turns, all clients
    per_client: int  # one client's sends under way or waiting
    waiting: int  # sends waiting for a turn, all clients

    @classmethod
    def of(cls, legacy: LegacySettings) -> AdmissionLimits:
        return cls(
            legacy.max_sends_in_flight,
            legacy.max_sends_in_flight_per_client,
            legacy.max_sends_waiting,
        )


class RefusalLog:
    """Refusals told once, then counted into one line an interval while they go on."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        self._counts: Counter[tuple[str, Reason]] = Counter()
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<RefusalLog pending={self._counts.total()}>"

    def add(self, client: str, reason: Reason, limits: AdmissionLimits) -> None:
        if self._timer is not None:
            self._counts[(client, reason)] += 1
            return
        log.warning(
            "sends_refused_busy",
            client=client,
            reason=reason,
            max_sends_in_flight=limits.in_flight,
            max_sends_in_flight_per_client=limits.per_client,
            max_sends_waiting=limits.waiting,
        )
        self._timer = asyncio.get_running_loop().call_later(self.every_s, self._summarise)

    def _summarise(self) -> None:
        if not self._counts:
            self._timer = None  # quiet again: the next refusal is told at once
            return
        refused: dict[str, dict[str, int]] = {}
        for (client, reason), count in sorted(self._counts.items()):
            refused.setdefault(client, {})[reason] = count
        log.warning("sends_refused_busy", refused=refused, seconds=self.every_s)
        self._counts.clear()
        self._timer = asyncio.get_running_loop().call_later(self.every_s, self._summarise)


class FairAdmission:
    """Turns for sends, handed out round-robin across clients; see the module doc."""

    def __init__(
        self,
        limits: AdmissionLimits,
        observer: RefusalObserver | None = None,
        refusals: RefusalLog | None = None,
    ) -> None:
        self.limits = limits
        self._observer = observer
        self._refusals = refusals if refusals is not None else RefusalLog()
        self.in_flight = 0
        self.waiting = 0
        self._held: dict[str, int] = {}  # per client: under way or waiting
        # Clients with sends waiting, in turn order: the next turn goes to the
        # first, which goes back to the end while it has more waiting.
        self._lines: dict[str, deque[asyncio.Future[None]]] = {}

    def __repr__(self) -> str:
        return (
            f"<FairAdmission in_flight={self.in_flight}/{self.limits.in_flight}"
            f" waiting={self.waiting}/{self.limits.waiting}"
            f" clients_waiting={len(self._lines)}>"
        )

    def configure(self, limits: AdmissionLimits) -> None:
        """New limits (a reload): more turns go to waiters now; fewer apply as sends finish."""
        self.limits = limits
        self._hand_out()

    def turn(self, client: str) -> Turn:
        """``async with admission.turn(cpid):`` the send's turn; raises :class:`Busy`."""
        return Turn(self, client)

    async def acquire(self, client: str) -> None:
        held = self._held.get(client, 0)
        if held >= self.limits.per_client:
            self._refuse(client, "client_limit")
        if self.in_flight < self.limits.in_flight and not self._lines:
            self._held[client] = held + 1
            self.in_flight += 1
            return
        if self.waiting >= self.limits.waiting:
            self._make_room(client)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._lines.get(client)
        if line is None:
            line = self._lines[client] = deque()
        line.append(waiter)
        self.waiting += 1
        self._held[client] = held + 1
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(client)  # the turn came with the cancellation: pass it on
            else:
                self._leave_line(client, waiter)
                self._drop(client)
            raise

    def release(self, client: str) -> None:
        self.in_flight -= 1
        self._drop(client)
        self._hand_out()

    def _hand_out(self) -> None:
        while self.in_flight < self.limits.in_flight and self._lines:
            client = next(iter(self._lines))
            line = self._lines.pop(client)
            waiter = line.popleft()
            if line:
                self._lines[client] = line  # to the back: one turn each
            self.waiting -= 1
            if waiter.done():
                continue  # cancelled; its task drops its count
            waiter.set_result(None)
            self.in_flight += 1

    def _make_room(self, client: str) -> None:
        """The waiting room is full: the client with the most waiting gives way, or this one."""
        mine = len(self._lines.get(client, ()))
        fullest = max(self._lines, key=lambda c: len(self._lines[c]), default=None)
        if fullest is None or len(self._lines[fullest]) <= mine + 1:
            self._refuse(client, "saturated")
        line = self._lines[fullest]
        newest = line.pop()
        if not line:
            del self._lines[fullest]
        self.waiting -= 1
        if not newest.done():  # else cancelled, and its task drops its count
            newest.set_exception(Busy("saturated"))
            self._count_refusal(fullest, "saturated")

    def _leave_line(self, client: str, waiter: asyncio.Future[None]) -> None:
        line = self._lines.get(client)
        if line is None or waiter not in line:
            return  # already taken off by _hand_out or _make_room
        line.remove(waiter)
        if not line:
            del self._lines[client]
        self.waiting -= 1

    def _drop(self, client: str) -> None:
        left = self._held[client] - 1
        if left:
            self._held[client] = left
        else:
            del self._held[client]  # only clients with sends are kept

    def _refuse(self, client: str, reason: Reason) -> NoReturn:
        self._count_refusal(client, reason)
        raise Busy(reason)

    def _count_refusal(self, client: str, reason: Reason) -> None:
        if self._observer is not None:
            self._observer.send_refused_busy(client, reason)
        self._refusals.add(client, reason, self.limits)


class Turn:
    """One send's turn, given back however the send ends."""

    __slots__ = ("_admission", "_client")

    def __init__(self, admission: FairAdmission, client: str) -> None:
        self._admission = admission
        self._client = client

    async def __aenter__(self) -> None:
        await self._admission.acquire(self._client)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._admission.release(self._client)
