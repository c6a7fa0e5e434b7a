"""What every vendor simulator shares: fault knobs, records, a control API.

A simulator is an aiohttp application that speaks one vendor's wire format
(the vendor module supplies those handlers) and wraps them in the faults a
test or a demo asks for.  Tests drive the knobs in-process through
:attr:`Simulator.faults`; the demo and the benchmark, which run simulators
in other processes, use the JSON control API under ``/_sim/``:

``GET /_sim/state``      knobs, balance and counters
``POST /_sim/faults``    set knobs: ``{"forced_outcome": "rate_limited", "latency_s": 0.2}``
``GET /_sim/accepted``   every message the vendor took
``POST /_sim/reply``     inject a reply: ``{"phone": "13800138000", "text": "好"}``
``POST /_sim/reset``     forget messages and restore the default knobs

The records are the vendor's own view of what it accepted: tests assert on
them that every recipient was sent exactly once.  Their times are the
vendor's clock, in China (:attr:`Simulator.zone`), whatever the host's zone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from aiohttp import web

from adapters.base import DeliveryStatus
from config.zone import CHINA
from core.outcome import Outcome
from core.send import segments

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    balance: int | None = None  # segments left; None: unlimited
    forced_outcome: Outcome | None = None  # answer every send with this outcome's code
    forced_code: str | None = None  # or with this raw vendor code
    latency_s: float = 0.0
    hang: bool = False  # take the request and never answer
    http_500: bool = False
    http_status: int | None = None  # answer every vendor request with this HTTP status
    garbage: bool = False
    # Sends in any one second (sliding, as esms100.txt counts: "1秒内最多提交10次");
    # one more is answered the vendor's "too fast".  Balance queries and report
    # polls do not count: the documents limit sends.
    rate_limit_per_s: float | None = None
    allowed_ips: list[str] | None = None  # None: any address
    report_delay_s: float = 0.2
    report_status: DeliveryStatus = DeliveryStatus.DELIVERED
    push_url: str | None = None  # where pushing vendors send reports and replies


@dataclass(frozen=True)
class Accepted:
    message_id: str
    phone: str
    text: str
    time: datetime
    segments: int


@dataclass(frozen=True)
class PendingReport:
    message: Accepted
    status: DeliveryStatus
    due: float  # monotonic


@dataclass(frozen=True)
class InjectedReply:
    phone: str
    text: str
    time: datetime
    dest: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Simulator:
    """Base of every vendor simulator; subclasses add the vendor's routes."""

    kind: ClassVar[str]

    def __init__(self) -> None:
        # The vendors stand in China: their clocks show China time on any host.
        self.zone = ZoneInfo(CHINA)
        self.faults = Faults()
        self.accepted: list[Accepted] = []
        self.requests = 0
        # Sends only: requests also counts balance queries and report polls.
        self.sends = 0
        # Balance queries that reached the vendor's handler: a vendor allows so many.
        self.balance_queries = 0
        self.reports: list[PendingReport] = []
        self.replies: list[InjectedReply] = []
        self._recent_sends: deque[float] = deque()  # monotonic times, for rate_limit_per_s
        self.too_fast = 0  # sends answered "too fast" under rate_limit_per_s
        # Why refusal() refused the last send (None: a forced_code, or not refused).
        self.last_refusal: Outcome | None = None
        self._seq = 0
        self._release = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pusher: asyncio.Task[None] | None = None
        self.app = web.Application(middlewares=[self._faults_middleware])
        self.app.add_routes(self.vendor_routes())
        self.app.add_routes(
            [
                web.get("/_sim/state", self._state),
                web.post("/_sim/faults", self._set_faults),
                web.get("/_sim/accepted", self._accepted),
                web.post("/_sim/reply", self._inject_reply),
                web.post("/_sim/reset", self._reset),
            ]
        )
        self.app.on_shutdown.append(self._shutdown)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} accepted={len(self.accepted)} "
            f"balance={self.faults.balance} forced={self.faults.forced_outcome}>"
        )

    # --- what a vendor module provides -------------------------------------------

    def vendor_routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def code_for(self, outcome: Outcome) -> str:
        """The vendor's own code for an outcome (used by forced_outcome)."""
        raise NotImplementedError

    def credentials(self) -> dict[str, Any]:
        """The vendor settings (beyond name, URL and price) that authenticate to this simulator."""
        raise NotImplementedError

    def answer_code(self, request: web.Request, code: str) -> web.Response:
        """The vendor's answer carrying only a status code, for the request's endpoint."""
        raise NotImplementedError

    async def push(self, reports: list[PendingReport], replies: list[InjectedReply]) -> None:
        """Pushing vendors deliver to faults.push_url; polled vendors keep them queued."""

    pushes: ClassVar[bool] = False

    # --- helpers for vendor handlers ----------------------------------------------

    def now(self) -> datetime:
        """The vendor's clock, to the second like the vendors' documents."""
        return datetime.now(self.zone).replace(microsecond=0)

    def next_id(self) -> int:
        self._seq += 1
        return self._seq

    def refusal(self, phones: int, text: str) -> str | None:
        """The code a send must be refused with under the current knobs, or None.

        Counts the send, and charges the balance when it goes through.
        """
        self.sends += 1
        self.last_refusal = self._refusal_of(phones, text)
        if self.faults.forced_code is not None:
            return self.faults.forced_code
        return None if self.last_refusal is None else self.code_for(self.last_refusal)

    def _refusal_of(self, phones: int, text: str) -> Outcome | None:
        if self.faults.forced_code is not None:
            return None
        if self._too_fast():
            self.too_fast += 1
            return Outcome.RATE_LIMITED
        if self.faults.forced_outcome is not None:
            return self.faults.forced_outcome
        cost = segments(text) * phones
        if self.faults.balance is not None:
            if self.faults.balance < cost:
                return Outcome.BALANCE_EXHAUSTED
            self.faults.balance -= cost
        return None

    def accept(self, message_id: str, phone: str, text: str) -> Accepted:
        msg = Accepted(message_id, phone, text, self.now(), segments(text))
        self.accepted.append(msg)
        due = time.monotonic() + self.faults.report_delay_s
        self.reports.append(PendingReport(msg, self.faults.report_status, due))
        if self.pushes:
            self._wake_pusher(self.faults.report_delay_s)
        return msg

    def due_reports(self, limit: int | None = None) -> list[PendingReport]:
        """Reports whose delay has passed, removed from the queue (a poll takes them)."""
        now = time.monotonic()
        due = [r for r in self.reports if r.due <= now]
        if limit is not None:
            due = due[:limit]
        taken = {id(r) for r in due}
        self.reports = [r for r in self.reports if id(r) not in taken]
        return due

    def take_replies(self) -> list[InjectedReply]:
        taken, self.replies = self.replies, []
        return taken

    def inject_reply(self, phone: str, text: str, **extra: Any) -> None:
        reply = InjectedReply(phone, text, self.now(), str(extra.pop("dest", "")), extra)
        self.replies.append(reply)
        if self.pushes:
            self._wake_pusher(0.0)

    def phones_of(self, text: str | None = None) -> list[str]:
        return [m.phone for m in self.accepted if text is None or m.text == text]

    # --- internals ------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _wake_pusher(self, delay: float) -> None:
        # One pusher for everything due, not a timer per message: a 50000-number
        # send must not start 50000 tasks.
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.ensure_future(self._push_loop(delay))
            self._tasks.add(self._pusher)
            self._pusher.add_done_callback(self._tasks.discard)

    async def _push_loop(self, delay: float) -> None:
        await asyncio.sleep(delay)
        while self.reports or self.replies:
            reports = self.due_reports()
            replies = self.take_replies()
            if reports or replies:
                await self.push(reports, replies)
            if self.reports:
                wait = min(r.due for r in self.reports) - time.monotonic()
                await asyncio.sleep(max(0.01, wait))

    def _too_fast(self) -> bool:
        """Whether the second before this send already holds the limit (a refused
        send is not counted: it was not submitted)."""
        limit = self.faults.rate_limit_per_s
        if limit is None:
            return False
        now = time.monotonic()
        recent = self._recent_sends
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= limit:
            return True
        recent.append(now)
        return False

    @web.middleware
    async def _faults_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        self.requests += 1
        f = self.faults
        if f.latency_s:
            await asyncio.sleep(f.latency_s)
        if f.hang:
            await self._release.wait()
        if f.http_500:
            return web.Response(status=500, text="Internal Server Error")
        if f.http_status is not None:
            # What a gateway or web server in front of the vendor answers: no vendor code.
            return web.Response(status=f.http_status, text=f"HTTP {f.http_status}")
        if f.garbage:
            return web.Response(body=random.randbytes(37) + b"<html>\xff\xfe")  # noqa: S311
        if f.allowed_ips is not None and request.remote not in f.allowed_ips:
            return self.answer_code(request, self.code_for(Outcome.IP_REJECTED))
        return await handler(request)

    async def _shutdown(self, app: web.Application) -> None:
        self._release.set()
        for task in list(self._tasks):
            task.cancel()

    async def _state(self, request: web.Request) -> web.Response:
        knobs = dataclasses.asdict(self.faults)
        knobs["forced_outcome"] = f.value if (f := self.faults.forced_outcome) else None
        knobs["report_status"] = int(self.faults.report_status)
        return web.json_response(
            {
                "kind": self.kind,
                "faults": knobs,
                "accepted": len(self.accepted),
                "requests": self.requests,
                "balance_queries": self.balance_queries,
                "pending_reports": len(self.reports),
                "too_fast": self.too_fast,
            }
        )

    async def _set_faults(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            for key, value in data.items():
                if key == "forced_outcome":
                    value = Outcome(value) if value else None
                elif key == "report_status":
                    value = DeliveryStatus(int(value))
                elif not hasattr(self.faults, key):
                    raise KeyError(key)
                setattr(self.faults, key, value)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": f"bad knob: {exc}"}, status=400)
        if not self.faults.hang:
            self._release.set()
            self._release = asyncio.Event()
        return await self._state(request)

    async def _accepted(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "message_id": m.message_id,
                    "phone": m.phone,
                    "text": m.text,
                    "time": m.time.isoformat(),
                }
                for m in self.accepted
            ]
        )

    async def _inject_reply(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            phone, text = str(data.pop("phone")), str(data.pop("text"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.json_response({"error": "need phone and text"}, status=400)
        self.inject_reply(phone, text, **data)
        return web.json_response({"ok": True})

    async def _reset(self, request: web.Request) -> web.Response:
        self.faults = Faults()
        self.accepted.clear()
        self.reports.clear()
        self.replies.clear()
        self._release.set()
        self._release = asyncio.Event()
        return await self._state(request)


class SimulatorServer:
    """Runs a simulator on a loopback port; ``async with`` in tests, demo and bench."""

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.simulator.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
