"""A faithful chuanglan (253): same paths, fields, codes, answer bytes and pushes.

One account with its password and its products; the first product is the
default one and carries the whole balance (the others show 0), so the sum of
the lines is the balance either way.  Sends and queries are taken as GET or
POST.  Checks, in this order: account (101), password (102), product (112),
extno (113), number count (108), text length (106).  Numbers are not
checked beyond their count: the platform takes them and reports later.

Reports and replies are pushed, one GET each, to ``faults.push_url`` with
the configured ``receiver`` and ``pswd``; a report's status is ``DELIVRD``
or ``UNDELIV``.  With no push address the vendor drops them, as it does the
reports of a send without ``needstatus=true``.  A push answered with
anything but a 2xx, or not answered, is retried after each of
:attr:`push_retry_delays_s` (0.5, 1 and 2 s) and then given up, counted in
:attr:`push_failures`.  The document says nothing of retries; platforms like
it retry a few times over minutes, shortened here for tests and the demo.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from yarl import URL

from adapters.base import DeliveryStatus
from adapters.chuanglan import wire
from adapters.chuanglan.codes import DELIVERED
from adapters.simulator import InjectedReply, PendingReport, Simulator
from core.outcome import Outcome

MAX_NUMBERS = 50000
MAX_TEXT = 536
UNDELIVERED = "UNDELIV"
_PUSH_TIMEOUT = aiohttp.ClientTimeout(total=5)

_CODE_FOR: dict[Outcome, str] = {
    Outcome.ACCEPTED: "0",
    Outcome.AUTH_FAILED: "102",
    Outcome.RATE_LIMITED: "103",
    Outcome.VENDOR_BUSY: "104",
    Outcome.CONTENT_REJECTED: "105",
    Outcome.REQUEST_INVALID: "108",
    Outcome.RECIPIENT_INVALID: "108",  # chuanglan has no code for a bad number
    Outcome.BALANCE_EXHAUSTED: "109",
    Outcome.IP_REJECTED: "117",
}


class ChuanglanSimulator(Simulator):
    kind: ClassVar[str] = "chuanglan"
    pushes: ClassVar[bool] = True
    push_concurrency: ClassVar[int] = 8

    def __init__(
        self,
        account: str = "test01",
        password: str = "123456",
        products: Sequence[str] = ("274463133",),
        receiver: str = "admin",
        receiver_password: str = "12345",
    ) -> None:
        self.account = account
        self.password = password
        self.products = tuple(products)
        self.receiver = receiver
        self.receiver_password = receiver_password
        self.destcode = "1065751600001"  # where replies were sent, when the test names none
        self.push_retry_delays_s: tuple[float, ...] = (0.5, 1.0, 2.0)
        self.push_failures = 0  # pushes given up after every retry
        self._session: aiohttp.ClientSession | None = None
        self._id_base = time.time_ns() // 1000  # msgids stay unique across restarts
        super().__init__()
        self.app.on_shutdown.append(self._close_session)

    def vendor_routes(self) -> list[web.RouteDef]:
        routes: list[web.RouteDef] = []
        for path, handler in (
            (wire.SEND_PATH, self._send),
            (wire.BALANCE_PATH, self._balance),
        ):
            routes += [web.get(path, handler), web.post(path, handler)]
        return routes

    def credentials(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "password": self.password,
            "product": self.products[0] if self.products else None,
            "report_receiver": self.receiver,
            "report_password": self.receiver_password,
        }

    def code_for(self, outcome: Outcome) -> str:
        return _CODE_FOR.get(outcome, "104")

    def answer_code(self, request: web.Request, code: str) -> web.Response:
        return _text(wire.encode_answer(self.now(), self.zone, code))

    # --- the vendor's endpoints -----------------------------------------------------

    async def _fields(self, request: web.Request) -> dict[str, str]:
        body = await request.read() if request.method == "POST" else b""
        return wire.decode_fields(
            request.rel_url.raw_query_string.encode("utf-8", "surrogateescape"), body
        )

    def _auth_code(self, fields: dict[str, str]) -> str | None:
        if fields.get("account") != self.account:
            return "101"
        if fields.get("pswd") != self.password:
            return "102"
        return None

    def _send_code(self, fields: dict[str, str], numbers: list[str], text: str) -> str | None:
        product, extno = fields.get("product"), fields.get("extno")
        if product and product not in self.products:
            return "112"
        if extno and not (extno.isascii() and extno.isdigit() and len(extno) <= 20):
            return "113"
        if not 0 < len(numbers) <= MAX_NUMBERS:
            return "108"
        if not 0 < len(text) <= MAX_TEXT:
            return "106"
        return None

    async def _send(self, request: web.Request) -> web.Response:
        fields = await self._fields(request)
        numbers = [n.strip() for n in fields.get("mobile", "").split(",") if n.strip()]
        text = fields.get("msg", "")
        code = self._auth_code(fields) or self._send_code(fields, numbers, text)
        code = code or self.refusal(len(numbers), text)
        if code is not None:
            return self.answer_code(request, code)
        msgid = str(self._id_base + self.next_id())
        for number in numbers:
            self.accept(msgid, number, text)
        if fields.get("needstatus", "").strip().lower() != "true":
            self.reports = [r for r in self.reports if r.message.message_id != msgid]
            return self.answer_code(request, "0")
        return _text(wire.encode_answer(self.now(), self.zone, "0", [msgid]))

    async def _balance(self, request: web.Request) -> web.Response:
        self.balance_queries += 1
        code = self._auth_code(await self._fields(request))
        if code is not None:
            return self.answer_code(request, code)
        left = 10_000_000 if self.faults.balance is None else self.faults.balance
        counts = [f"{p},{left if i == 0 else 0}" for i, p in enumerate(self.products)]
        return _text(wire.encode_answer(self.now(), self.zone, "0", counts))

    # --- pushes -------------------------------------------------------------------------

    async def push(self, reports: list[PendingReport], replies: list[InjectedReply]) -> None:
        url = self.faults.push_url
        if url is None:
            return
        # Built lazily: 50000 reports must not stop the event loop while queries are made.
        queries = itertools.chain(
            (self._report_query(r) for r in reports), (self._reply_query(r) for r in replies)
        )
        prefix = url + ("&" if "?" in url else "?")
        await asyncio.gather(
            *(self._push_worker(prefix, queries) for _ in range(self.push_concurrency))
        )

    def _report_query(self, report: PendingReport) -> str:
        delivered = report.status is DeliveryStatus.DELIVERED
        return wire.encode_push(
            {
                "receiver": self.receiver,
                "pswd": self.receiver_password,
                "msgid": report.message.message_id,
                "reportTime": wire.format_push_time(self.now(), self.zone),
                "mobile": report.message.phone,
                "status": DELIVERED if delivered else UNDELIVERED,
            }
        )

    def _reply_query(self, reply: InjectedReply) -> str:
        fields = {
            "receiver": self.receiver,
            "pswd": self.receiver_password,
            "moTime": wire.format_push_time(reply.time, self.zone),
            "destcode": reply.dest or self.destcode,
            "mobile": reply.phone,
            "msg": reply.text,
        }
        for key in ("isems", "emshead"):
            if key in reply.extra:
                fields[key] = str(reply.extra[key])
        return wire.encode_push(fields)

    async def _push_worker(self, prefix: str, queries: Iterator[str]) -> None:
        # Workers share one iterator: a bounded number of pushes in flight.
        for query in queries:
            if not await self._deliver(URL(prefix + query, encoded=True)):
                self.push_failures += 1

    async def _deliver(self, target: URL) -> bool:
        for delay in (0.0, *self.push_retry_delays_s):
            if delay:
                await asyncio.sleep(delay)
            try:
                async with self._client().get(target) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        return True
            except (aiohttp.ClientError, TimeoutError):
                continue
        return False

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=_PUSH_TIMEOUT)
        return self._session

    async def _close_session(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()


def _text(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
