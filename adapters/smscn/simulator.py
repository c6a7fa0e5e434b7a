"""A faithful sms.cn: same paths, parameters, charsets, codes and answer bytes.

Accounts: one ``uid`` whose ``pwd`` must be md5(password + uid), lowercase.
Fields are GBK unless ``encode=utf8``; a field that is not readable in that
charset is 104 非法字符.  Numbers are mainland mobiles or landlines with their
area code (小灵通需加区号); invalid ones are dropped and a send with none left
is 112.  A GET takes 50 numbers, a POST 2000 (106 beyond); text 500
characters (105 beyond, our reading of a cap the document does not give).

Each number is recorded under the ``mobileids`` entry at its position (an
id of our own making when the client gave none), so ``/st/`` reports carry
the client's ids.  ``/st/`` serves every due report, ``/rx/`` every injected
reply, each once.  Report status is ``100`` for delivered and ``101`` for
anything else (the document shows only ``100``).  With ``push_replies`` set
and ``faults.push_url`` given, replies are pushed there instead (6.2, a GET).
A push carries the account's ``uid``, no secret: the simulator pushes from
loopback, and :meth:`credentials` gives those addresses as
``push_allowed_ips``, as an operator lists a real vendor's.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from yarl import URL

from adapters.base import DeliveryStatus
from adapters.esms100.wire import Params
from adapters.form import parse_pairs
from adapters.simulator import InjectedReply, PendingReport, Simulator
from adapters.smscn import wire
from adapters.smscn.codes import description_of
from core.outcome import Outcome

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{9,11})$")
GET_CAP, POST_CAP, MAX_TEXT = 50, 2000, 500
GATEWAY = "106811222728"
FAILED_STATUS = "101"
UNLIMITED = 10_000_000
PUSHES_FROM = ("127.0.0.0/8", "::1/128")  # where a simulator's pushes come from

_CODE_FOR: dict[Outcome, int] = {
    Outcome.ACCEPTED: 100,
    Outcome.AUTH_FAILED: 101,
    Outcome.BALANCE_EXHAUSTED: 102,
    Outcome.VENDOR_BUSY: 103,
    Outcome.CONTENT_REJECTED: 104,
    Outcome.REQUEST_INVALID: 106,
    Outcome.RATE_LIMITED: 107,
    Outcome.RECIPIENT_INVALID: 112,
    Outcome.IP_REJECTED: 117,
}


class SmscnSimulator(Simulator):
    kind: ClassVar[str] = "smscn"

    def __init__(self, uid: str = "test", password: str = "123123") -> None:
        self.uid = uid
        self.password = password
        self.push_replies = False
        super().__init__()

    def vendor_routes(self) -> list[web.RouteDef]:
        routes: list[web.RouteDef] = []
        for path, handler in (
            ("/mt/", self._mt),
            ("/st/", self._st),
            ("/rx/", self._rx),
            ("/mm/", self._mm),
        ):
            routes += [web.get(path, handler), web.post(path, handler)]
        return routes

    def credentials(self) -> dict[str, Any]:
        return {"uid": self.uid, "password": self.password, "push_allowed_ips": list(PUSHES_FROM)}

    def code_for(self, outcome: Outcome) -> str:
        return str(_CODE_FOR.get(outcome, 103))

    def answer_code(self, request: web.Request, code: str) -> web.Response:
        if request.path == "/rx/":
            return _text(code.encode("ascii"))
        return _answer(int(code) if code.isdigit() else code)

    def inject_reply(self, phone: str, text: str, **extra: Any) -> None:
        extra.setdefault("dest", GATEWAY)
        super().inject_reply(phone, text, **extra)
        if self.push_replies and self.faults.push_url:
            self._spawn(self._push_replies())

    async def push(self, reports: list[PendingReport], replies: list[InjectedReply]) -> None:
        url = self.faults.push_url
        if url is None:
            return
        async with aiohttp.ClientSession() as session:
            for i, reply in enumerate(replies):
                record = wire.ReplyRecord(reply.phone, reply.text, reply.time, reply.dest)
                query = wire.encode_reply_push(self.uid, record, self.zone)
                try:
                    async with session.get(URL(f"{url}?{query}", encoded=True)) as resp:
                        await resp.read()
                except (aiohttp.ClientError, TimeoutError):
                    self.replies.extend(replies[i:])  # left for /rx/, as the vendor would keep it
                    return

    async def _push_replies(self) -> None:
        await self.push([], self.take_replies())

    async def _params(self, request: web.Request) -> Params:
        body = await request.read() if request.method == "POST" else b""
        # The raw query: aiohttp's query_string is already decoded as UTF-8.
        return _strict_params(request.rel_url.raw_query_string.encode("ascii", "replace"), body)

    def _auth_code(self, params: Params) -> int | None:
        uid, pwd = params.get("uid"), params.get("pwd")
        if uid != self.uid or pwd != wire.password_digest(self.password, self.uid):
            return 101
        return None

    async def _mt(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        code = self._auth_code(params)
        if code is not None:
            return _answer(code)
        if {"content", "mobile"} & params.unreadable:
            return _answer(104)
        text, numbers = params.values.get("content"), wire.split_list(params.get("mobile"))
        if not text or not numbers:
            return _answer(108)
        if len(numbers) > (GET_CAP if request.method == "GET" else POST_CAP):
            return _answer(106)
        if len(text) > MAX_TEXT:
            return _answer(105)
        ids = wire.split_list(params.get("mobileids"))
        valid = [(i, n) for i, n in enumerate(numbers) if _PHONE.match(n)]
        if not valid:
            return _answer(112)
        refusal = self.refusal(len(valid), text)
        if refusal is not None:
            return self.answer_code(request, refusal)
        made, _ = wire.mobile_ids([n for _, n in valid], time.time_ns() // 1_000_000)
        for (i, number), own in zip(valid, made, strict=True):
            given = ids[i] if i < len(ids) and wire.is_digits(ids[i]) else None
            self.accept(given or own, number, text)
        return _answer(100)

    async def _st(self, request: web.Request) -> web.Response:
        code = self._auth_code(await self._params(request))
        if code is not None:
            return _answer(code)
        lines = [
            wire.ReportLine(
                r.message.phone,
                "100" if r.status is DeliveryStatus.DELIVERED else FAILED_STATUS,
                r.message.message_id,
                r.message.time,
            )
            for r in self.due_reports()
        ]
        return _text(wire.encode_reports(lines, self.zone))

    async def _rx(self, request: web.Request) -> web.Response:
        code = self._auth_code(await self._params(request))
        if code is not None:
            return _text(str(code).encode("ascii"))
        records = [wire.ReplyRecord(r.phone, r.text, r.time, r.dest) for r in self.take_replies()]
        return _text(wire.encode_replies(records, self.zone))

    async def _mm(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        code = self._auth_code(params)
        if code is not None:
            return _answer(code)
        if params.get("cmd") == "send":
            return _answer(100, remain=str(sum(m.segments for m in self.accepted)))
        self.balance_queries += 1
        balance = self.faults.balance
        return _answer(100, remain=str(UNLIMITED if balance is None else balance))


def _strict_params(query: bytes, body: bytes) -> Params:
    """Fields read in the declared charset only, as the vendor does.

    Unlike our own lenient readers, no fallback: a client that sends UTF-8
    without ``encode=utf8`` sees its text garbled or refused, as it would be.
    """
    pairs: dict[str, bytes | None] = {}
    for name, value in parse_pairs(query) + parse_pairs(body):
        pairs[name.decode("latin-1").strip().lower()] = value
    utf8 = (pairs.get("encode") or b"").strip().lower() in (b"utf8", b"utf-8")
    charset = "utf-8" if utf8 else "gb18030"
    values: dict[str, str] = {}
    unreadable: set[str] = set()
    for key, value in pairs.items():
        text = _decode(value, charset)
        if text is None:
            unreadable.add(key)
        else:
            values[key] = text
    return Params(values, frozenset(unreadable), utf8)


def _decode(value: bytes | None, charset: str) -> str | None:
    if value is None:
        return None
    try:
        return value.decode(charset)
    except UnicodeDecodeError:
        return None


def _answer(stat: int | str, **fields: str) -> web.Response:
    if not fields:
        fields = {"message": description_of(stat) if isinstance(stat, int) else "未知错误"}
    return _text(wire.encode_answer(stat, **fields))


def _text(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/plain", charset="gbk")
