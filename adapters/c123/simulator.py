"""A faithful c123: same paths, actions, checks, codes and XML answers.

``/OpenPlatform/OpenApi`` serves sendOnce and getBalance,
``/DataPlatform/DataApi`` serves getSendState and getReply, by GET or POST
(query and form merged, the form winning).  Checks run in the order the
tables suggest: account format (0), account (-5), authkey (-2), then for a
send the channel group (-8), content and numbers (-4), balance (-9).  The
DataApi tables have no -5, so an unknown account is -2 there.

Decisions where the document is silent:

* An unknown action is -4 (parameters not correct).
* Numbers are not validated beyond being present: c123's table has no code
  for a bad number, which fails in its report instead.
* A scheduled send (``t``) must be ``yyyyMMddHHmmss`` at least a minute
  ahead, or -4; it is then taken at once, as the simulator keeps no clock.
* getSendState hands out every due report, once; getReply every reply, once.
* The IP knob answers before the body is read, so its answer names the
  action from the query, or else the path's main action.  The rate limit
  counts sends (sendOnce) and answers them -1 (速度过快).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from adapters.base import DeliveryStatus
from adapters.c123 import wire
from adapters.http_in import raw_query
from adapters.simulator import PendingReport, Simulator
from adapters.zones import placed
from config.vendor_kinds import C123_AC_PATTERN
from core.outcome import Outcome
from core.send import segments

_AC = re.compile(C123_AC_PATTERN)
_UNLIMITED_REMAIN = 1_000_000.0  # yuan, when faults.balance is None

_CODE_FOR: dict[Outcome, int] = {
    Outcome.ACCEPTED: 1,
    Outcome.AUTH_FAILED: -2,
    Outcome.IP_REJECTED: -1,  # one code for too fast, time limit and unbound IP
    Outcome.RATE_LIMITED: -1,
    Outcome.BALANCE_EXHAUSTED: -9,
    # c123 refuses bad content or numbers only as "parameters not correct".
    Outcome.REQUEST_INVALID: -4,
    Outcome.RECIPIENT_INVALID: -4,
    Outcome.CONTENT_REJECTED: -4,
    Outcome.VENDOR_BUSY: -10,
}

_REPORT: dict[DeliveryStatus, tuple[str, str]] = {
    DeliveryStatus.DELIVERED: ("2", "DELIVRD"),
    DeliveryStatus.FAILED: ("1", "UNDELIV"),
    DeliveryStatus.UNKNOWN: ("0", "UNKNOWN"),
}

_MAIN_ACTION = {wire.OPEN_API: "sendOnce", wire.DATA_API: "getSendState"}

Params = dict[str, str]


class C123Simulator(Simulator):
    kind: ClassVar[str] = "c123"
    pushes: ClassVar[bool] = False

    def __init__(
        self,
        ac: str = "1001@500008880001",
        authkey: str = "87B01469201D6557C2685137EB3B5DEC",
        cgid: str = "80",
        price: float = 0.05,
    ) -> None:
        self.ac = ac
        self.authkey = authkey
        self.cgid = cgid
        self.price = price
        self.sid, _, self.cid = ac.partition("@")
        self._actions = {
            wire.OPEN_API: {"sendOnce": self._send_once, "getBalance": self._get_balance},
            wire.DATA_API: {"getSendState": self._get_send_state, "getReply": self._get_reply},
        }
        super().__init__()

    def vendor_routes(self) -> list[web.RouteDef]:
        routes: list[web.RouteDef] = []
        for path in (wire.OPEN_API, wire.DATA_API):
            routes += [web.get(path, self._dispatch), web.post(path, self._dispatch)]
        return routes

    def credentials(self) -> dict[str, Any]:
        return {"ac": self.ac, "authkey": self.authkey, "cgid": self.cgid}

    def code_for(self, outcome: Outcome) -> str:
        return str(_CODE_FOR.get(outcome, -10))

    def answer_code(self, request: web.Request, code: str) -> web.Response:
        action = request.query.get("action", "").strip() or _MAIN_ACTION.get(request.path, "")
        return _xml(wire.encode_answer(action, code))

    async def _dispatch(self, request: web.Request) -> web.Response:
        body = await request.read() if request.method == "POST" else b""
        params = wire.decode_params(raw_query(request), body)
        action = params.get("action", "").strip()
        handler = self._actions[request.path].get(action)
        if handler is None:
            return _xml(wire.encode_answer(action, -4))
        code = self._auth_code(params, data_api=request.path == wire.DATA_API)
        if code is not None:
            return _xml(wire.encode_answer(action, code))
        return _xml(handler(params))

    def _auth_code(self, params: Params, *, data_api: bool) -> int | None:
        ac = params.get("ac", "").strip()
        if not _AC.match(ac):
            return 0
        if ac != self.ac:
            return -2 if data_api else -5
        if params.get("authkey", "").strip() != self.authkey:
            return -2
        return None

    def _send_once(self, params: Params) -> bytes:
        if params.get("cgid", "").strip() != self.cgid:
            return wire.encode_answer("sendOnce", -8)
        text = params.get("c", "")
        numbers = [n.strip() for n in params.get("m", "").split(",") if n.strip()]
        if not text or len(text) > 1000 or not numbers or len(numbers) > 1000:
            return wire.encode_answer("sendOnce", -4)
        if not self._valid_schedule(params.get("t", "").strip()):
            return wire.encode_answer("sendOnce", -4)
        refusal = self.refusal(len(numbers), text)
        if refusal is not None:
            return wire.encode_answer("sendOnce", refusal)
        msgid = str(100_000_000 + self.next_id())
        for number in numbers:
            self.accept(msgid, number, text)
        item = {
            "cid": self.cid,
            "sid": self.sid,
            "msgid": msgid,
            "total": str(segments(text) * len(numbers)),
            "price": f"{self.price:.2f}",
            "remain": self._remain(),
        }
        return wire.encode_answer("sendOnce", 1, [item])

    def _get_balance(self, params: Params) -> bytes:
        self.balance_queries += 1
        item = {"cid": self.cid, "sid": self.sid, "remain": self._remain()}
        return wire.encode_answer("getBalance", 1, [item])

    def _get_send_state(self, params: Params) -> bytes:
        items = [_report_item(n, r) for n, r in enumerate(self.due_reports(), 1)]
        return wire.encode_answer("getSendState", 1, items)

    def _get_reply(self, params: Params) -> bytes:
        items = [
            {
                "id": str(n),
                "time": wire.format_epoch_ms(r.time),
                "mobile": r.phone,
                "content": r.text,
            }
            for n, r in enumerate(self.take_replies(), 1)
        ]
        return wire.encode_answer("getReply", 1, items)

    def _valid_schedule(self, value: str) -> bool:
        if not value:
            return True
        try:
            when = placed(datetime.strptime(value, "%Y%m%d%H%M%S"), self.zone)
        except ValueError:
            return False
        return when >= self.now() + timedelta(minutes=1)

    def _remain(self) -> str:
        balance = self.faults.balance
        remain = _UNLIMITED_REMAIN if balance is None else balance * self.price
        return f"{remain:.3f}"


def _report_item(n: int, report: PendingReport) -> dict[str, str]:
    result, operator = _REPORT[report.status]
    return {
        "id": str(n),
        "msgid": report.message.message_id,
        "mobile": report.message.phone,
        "result": result,
        "return": operator,
    }


def _xml(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/xml", charset="utf-8")
