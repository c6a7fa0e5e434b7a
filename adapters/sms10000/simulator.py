"""A faithful sms10000: one endpoint, signed requests, JSON or XML answers, XML pushes.

``/api/webservice`` takes GET or POST; a field in the body wins over the
query.  Checks, in order: ``cmd=send`` and every field present (else ``-1``),
``format`` 1 or 2, eprId (``-5``), userId (``-6``), timestamp within five
minutes of our clock (``-2``), key (``-3``), msgId an int below 2**31, at
most 500 characters and 1000 numbers (``-1``).  Numbers that are not
11-digit mainland mobiles are dropped; a send with none left is ``-1``.
Answers that come before the body is read (IP) are JSON unless
the query asks for ``format=2``.

The document has no codes for balance, rate limit or a bad recipient: an
empty balance is ``0`` with tips "余额不足", a rate limit ``0`` "失败", a bad
recipient ``-1``.

Reports and replies are pushed to ``faults.push_url`` as the document's XML,
up to 100 items a push.  A push whose answer is not HTTP 200 with the body
exactly ``SUCCESS`` (or that fails to connect) is pushed again after
``push_backoff_s``, doubling, ``push_attempts`` times in all; then it is
dropped and counted in :attr:`dropped_pushes`.  DeliveryStatus.UNKNOWN is
pushed as status ``0``, which the document does not list, so that the
adapter's unknown-status path can be exercised.

Every item carries the account's eprId and userId, as the document's
examples do.  They are no secret, so the daemon wants more: the simulator
pushes from loopback, and :meth:`credentials` gives those addresses as
``push_allowed_ips``, as an operator lists a real vendor's.  A test that
wants the token instead configures ``push_token`` and puts it in
``faults.push_url`` (``/push/<name>/<token>``), as it is registered with
the vendor.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from adapters.base import DeliveryStatus
from adapters.simulator import InjectedReply, PendingReport, Simulator
from adapters.sms10000 import wire
from adapters.sms10000.codes import description
from core.outcome import Outcome

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_CODE = re.compile(r"-?[0-9]{1,9}")
_REQUIRED = ("eprId", "userId", "timestamp", "key", "msgId", "format", "mobile", "content")
MAX_SKEW_MS = 5 * 60 * 1000
MAX_NUMBERS = 1000
MAX_TEXT_CHARS = 500
PUSH_BATCH = 100
PUSHES_FROM = ("127.0.0.0/8", "::1/128")  # where a simulator's pushes come from

_CODE_FOR: dict[Outcome, str] = {
    Outcome.ACCEPTED: "1",
    Outcome.BALANCE_EXHAUSTED: "0",
    Outcome.RATE_LIMITED: "0",
    Outcome.IP_REJECTED: "-4",
    Outcome.AUTH_FAILED: "-3",
    Outcome.CONTENT_REJECTED: "-8",
    Outcome.RECIPIENT_INVALID: "-1",
    Outcome.REQUEST_INVALID: "-1",
    Outcome.VENDOR_BUSY: "0",
}
_STATUS_OF: dict[DeliveryStatus, str] = {
    DeliveryStatus.DELIVERED: "1",
    DeliveryStatus.FAILED: "-1",
    DeliveryStatus.UNKNOWN: "0",
}


class Sms10000Simulator(Simulator):
    kind: ClassVar[str] = "sms10000"
    pushes: ClassVar[bool] = True

    def __init__(
        self, epr_id: int = 1, user_id: str = "sword123", password: str = "secret"
    ) -> None:
        self.epr_id = epr_id
        self.user_id = user_id
        self.password = password
        self.push_attempts = 4
        self.push_backoff_s = 0.2
        self.dropped_pushes = 0
        self._session: aiohttp.ClientSession | None = None
        super().__init__()
        self.app.on_shutdown.append(self._close_session)

    def vendor_routes(self) -> list[web.RouteDef]:
        return [web.get(wire.PATH, self._webservice), web.post(wire.PATH, self._webservice)]

    def credentials(self) -> dict[str, Any]:
        return {
            "epr_id": self.epr_id,
            "user_id": self.user_id,
            "password": self.password,
            "push_allowed_ips": list(PUSHES_FROM),
        }

    def code_for(self, outcome: Outcome) -> str:
        return _CODE_FOR.get(outcome, "0")

    def answer_code(self, request: web.Request, code: str) -> web.Response:
        return _answer(code, xml=request.query.get("format") == "2")

    async def push(self, reports: list[PendingReport], replies: list[InjectedReply]) -> None:
        statuses = [
            self._item(r.message.phone, r.message.message_id, status=_STATUS_OF[r.status])
            for r in reports
        ]
        mos = [self._item(r.phone, str(self.next_id()), content=r.text) for r in replies]
        for type_, items in ((wire.STATUS_PUSH, statuses), (wire.REPLY_PUSH, mos)):
            for start in range(0, len(items), PUSH_BATCH):
                await self._deliver(wire.encode_push(type_, items[start : start + PUSH_BATCH]))

    def _item(self, mobile: str, msg_id: str, status: str = "", content: str = "") -> wire.PushItem:
        return wire.PushItem(mobile, msg_id, str(self.epr_id), self.user_id, status, content)

    async def _deliver(self, body: bytes) -> None:
        url = self.faults.push_url
        if url is None:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        headers = {"Content-Type": "text/xml; charset=UTF-8"}
        for attempt in range(self.push_attempts):
            if attempt:
                await asyncio.sleep(self.push_backoff_s * 2 ** (attempt - 1))
            try:
                async with self._session.post(url, data=body, headers=headers) as resp:
                    if resp.status == 200 and await resp.read() == b"SUCCESS":
                        return
            except (aiohttp.ClientError, TimeoutError):
                continue
        self.dropped_pushes += 1

    async def _close_session(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _webservice(self, request: web.Request) -> web.Response:
        body = await request.read() if request.method == "POST" else b""
        params = wire.decode_params(request.rel_url.raw_query_string.encode("latin-1"), body)
        xml = params.get("format") == "2"
        code, valid = self._check(params)
        if code is not None:
            return _answer(code, xml)
        text = params["content"]
        refusal = self.refusal(len(valid), text)
        if refusal is not None:
            return _answer(refusal, xml, self._refusal_tips(refusal))
        msg_id = str(int(params["msgId"]))  # the vendor keeps an int: "007" comes back "7"
        for number in valid:
            self.accept(msg_id, number, text)
        return _answer("1", xml)

    def _check(self, params: dict[str, str]) -> tuple[str | None, list[str]]:
        """The code refusing a send, or None and the numbers to send to."""
        if params.get("cmd") != "send" or any(name not in params for name in _REQUIRED):
            return "-1", []
        if params["format"] not in ("1", "2"):
            return "-1", []
        if params["eprId"] != str(self.epr_id):
            return "-5", []
        if params["userId"] != self.user_id:
            return "-6", []
        stamp = params["timestamp"]
        if not _DIGITS.fullmatch(stamp):
            return "-1", []
        if abs(int(stamp) - time.time_ns() // 1_000_000) > MAX_SKEW_MS:
            return "-2", []
        key = wire.sign(self.epr_id, self.user_id, self.password, stamp)
        if params["key"].lower() != key:
            return "-3", []
        msg_id = params["msgId"]
        if not _DIGITS.fullmatch(msg_id) or int(msg_id) >= 2**31:
            return "-1", []
        numbers = [p.strip() for p in params["mobile"].split(",") if p.strip()]
        if len(params["content"]) > MAX_TEXT_CHARS or len(numbers) > MAX_NUMBERS:
            return "-1", []
        valid = [p for p in numbers if _MOBILE.fullmatch(p)]
        return (None, valid) if valid else ("-1", [])

    def _refusal_tips(self, code: str) -> str:
        out_of_money = self.last_refusal is Outcome.BALANCE_EXHAUSTED
        return "余额不足" if code == "0" and out_of_money else _tips(code)


def _tips(code: str) -> str:
    return description(int(code)) if _CODE.fullmatch(code) else "失败"


def _answer(code: str, xml: bool, tips: str | None = None) -> web.Response:
    body = wire.encode_answer(code, _tips(code) if tips is None else tips, xml)
    content_type = "text/xml" if xml else "application/json"
    return web.Response(body=body, content_type=content_type, charset="utf-8")
