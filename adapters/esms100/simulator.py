"""A faithful esms100: same paths, parameters, charsets, codes and answer bytes.

Accounts: one ``cpid`` with a password; ``cppwd`` must be its uppercase
MD5.  Phones must be 11-digit mainland mobiles; invalid ones are dropped,
and a send with none left is answered ``-16``.  Reports are served by
``/qreport/`` once their delay has passed, at most 200 per poll; replies by
``/mo/``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from aiohttp import web

from adapters.esms100 import wire
from adapters.esms100.wire import ReplyRecord, ReportLine
from adapters.http_in import raw_query
from adapters.simulator import Simulator
from core.outcome import Outcome

_MOBILE = re.compile(r"^1[3-9]\d{9}$")

_CODE_FOR: dict[Outcome, int] = {
    Outcome.ACCEPTED: 0,
    Outcome.AUTH_FAILED: -1,
    Outcome.IP_REJECTED: -1,  # esms100 says only "failed" to an unbound IP
    Outcome.REQUEST_INVALID: -8,
    Outcome.BALANCE_EXHAUSTED: -10,
    Outcome.CONTENT_REJECTED: -11,
    Outcome.RATE_LIMITED: -15,
    Outcome.RECIPIENT_INVALID: -16,
    Outcome.VENDOR_BUSY: -17,
}


class Esms100Simulator(Simulator):
    kind: ClassVar[str] = "esms100"

    def __init__(self, cpid: str = "10000", password: str = "secret") -> None:
        self.cpid = cpid
        self.password = password
        super().__init__()

    def vendor_routes(self) -> list[web.RouteDef]:
        routes: list[web.RouteDef] = []
        for path, handler in (
            ("/mt/", self._mt),
            ("/qamount/", self._qamount),
            ("/qreport/", self._qreport),
            ("/mo/", self._mo),
            ("/ent/", self._ent),
        ):
            routes += [web.get(path, handler), web.post(path, handler)]
        return routes

    def credentials(self) -> dict[str, Any]:
        return {"cpid": self.cpid, "password": self.password}

    def code_for(self, outcome: Outcome) -> str:
        return str(_CODE_FOR.get(outcome, -110))

    def answer_code(self, request: web.Request, code: str) -> web.Response:
        return _text(code.encode("ascii"))

    async def _params(self, request: web.Request) -> wire.Params:
        body = await request.read() if request.method == "POST" else b""
        return wire.decode_params(raw_query(request), body)

    def _auth_code(self, params: wire.Params) -> int | None:
        cpid, cppwd = params.get("cpid"), params.get("cppwd")
        if cpid is None:
            return -2
        if cppwd is None:
            return -3
        if cpid != self.cpid or cppwd.upper() != wire.password_digest(self.password):
            return -1
        return None

    async def _mt(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        code = self._auth_code(params)
        if code is not None:
            return _text(wire.encode_code(code))
        text, phone = params.get("msgtext"), params.get("phone")
        if text is None:
            return _text(b"-4")
        if phone is None:
            return _text(b"-5")
        if len(text) > 134:
            return _text(b"-7")
        numbers = [p.strip() for p in phone.split(",") if p.strip()]
        if len(numbers) > 1000:
            return _text(b"-8")
        valid = [p for p in numbers if _MOBILE.match(p)]
        if not valid:
            return _text(b"-16")
        refusal = self.refusal(len(valid), text)
        if refusal is not None:
            return _text(refusal.encode("ascii"))
        for number in valid:
            self.accept(str(self.next_id()), number, text)
        return _text(b"0")

    async def _qamount(self, request: web.Request) -> web.Response:
        self.balance_queries += 1
        code = self._auth_code(await self._params(request))
        if code is not None:
            return _text(wire.encode_code(code))
        balance = self.faults.balance
        return _text(str(10_000_000 if balance is None else balance).encode("ascii"))

    async def _qreport(self, request: web.Request) -> web.Response:
        code = self._auth_code(await self._params(request))
        if code is not None:
            return _text(wire.encode_code(code))
        due = self.due_reports(limit=200)
        lines = [ReportLine(r.message.time, r.message.phone, int(r.status)) for r in due]
        return _text(wire.encode_reports(lines, self.zone))

    async def _mo(self, request: web.Request) -> web.Response:
        code = self._auth_code(await self._params(request))
        if code is not None:
            return _text(wire.encode_code(code))
        records = [ReplyRecord(r.time, r.phone, r.text) for r in self.take_replies()]
        return _text(wire.encode_replies(records, self.zone))

    async def _ent(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        cpid, old, new = params.get("cpid"), params.get("oldpwd"), params.get("newpwd")
        if cpid != self.cpid or old is None or old.upper() != wire.password_digest(self.password):
            return _text(b"-1")
        if new is None or len(new) > 20:
            return _text(b"-1")
        self.password = new
        return _text(b"0")


def _text(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/plain", charset="gbk")
