"""c123 (上海创明) as a vendor: send, balance, report and reply polls.

Decisions:

* Every request is a UTF-8 POST form (the document recommends POST), the
  ``action`` inside it and in the URL too, as every example of the document
  has it there (a server that routes on the URL's action finds it); the
  authkey never appears in a URL or an access log.  The authkey is sent
  upper-case, as the document gives it (32位认证密钥（大写）).
  sendOnce takes up to 1000 numbers and 1000 characters a request.
* sendOnce answers one ``msgid`` for the whole request; reports carry it
  beside the number, so every phone of the chunk gets that msgid.  An
  accepted answer without a msgid is still ACCEPTED (the vendor took it) but
  flagged malformed: its reports will not correlate.
* ``remain`` is money in yuan.  Segments = remain / price per segment, in
  decimal arithmetic (0.150 / 0.05 is 3, not the float 2.999…), rounded
  down, never below 0; a price of 0 gives None (no way to tell).  The price
  is c123's own, not ours: getBalance's Item carries only cid, sid and
  remain, but every sendOnce Item carries ``price`` (单价, 每条短信的价格), and
  the last one seen is kept.  A ``price`` on the getBalance Item, which the
  document does not show, would be taken first.  Our ``price_per_segment``
  is the fallback only until c123 has answered a send since start or reload
  (an estimate: c123 bills what it bills, so its balance at our price can
  be far off).
* The document sets no query intervals; -1 ("too fast") is the only hint
  that c123 has limits.  We ask the balance at most every 10 s and poll
  reports and replies every 10 s each.
* A report's ``result`` (2 delivered, 1 failed) decides; ``result`` 0 or
  missing defers to the operator's ``return`` (DELIVRD, UNDELIV, …).
  getSendState carries no time, so reports have none.
* An Item that lacks its number (or a reply its content) is skipped and the
  poll flagged malformed; the other items of that poll are kept, because c123
  hands every record out once.
* An unknown code on a send is AMBIGUOUS (the vendor may have sent it); an
  HTTP status outside 2xx means what :mod:`adapters.http_status` says.  -1
  covers an unbound IP too: see :mod:`.codes`.
* c123 pushes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from decimal import Decimal
from typing import ClassVar
from zoneinfo import ZoneInfo

from adapters.base import BalanceResult, PollResult, PushResult, Reply, Report
from adapters.c123 import wire
from adapters.c123.codes import delivery_status, outcome_of
from adapters.form import FORM, parse_pairs
from adapters.http_status import balance_status, poll_status, send_status
from config.vendor_kinds import C123Settings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend, SendResult, VendorLimits


class C123Adapter:
    kind: ClassVar[str] = "c123"

    def __init__(self, settings: C123Settings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.limits = VendorLimits(
            max_numbers=1000,
            max_text_chars=1000,
            balance_interval_s=10.0,
            report_poll_interval_s=10.0,
            reply_poll_interval_s=10.0,
        )
        self._auth = [("ac", settings.ac), ("authkey", settings.authkey.get_secret_value().upper())]
        self._balance = self._request(wire.OPEN_API, "getBalance")
        self._reports = self._request(wire.DATA_API, "getSendState")
        self._replies = self._request(wire.DATA_API, "getReply")
        self._price: Decimal | None = None  # c123's price per segment, from its send answers

    def __repr__(self) -> str:
        return f"<C123Adapter {self.settings.name} ac={self.settings.ac}>"

    def _request(self, path: str, action: str, *fields: tuple[str, str]) -> HttpRequest:
        body = wire.encode_form([("action", action), *self._auth, *fields])
        return HttpRequest("POST", path, f"action={action}", body, FORM)

    def build_send(self, chunk: Chunk, now_ms: int) -> PreparedSend:
        fields = [("cgid", self.settings.cgid)]
        if self.settings.csid is not None:
            fields.append(("csid", self.settings.csid))
        fields += [("c", chunk.text), ("m", ",".join(chunk.phones))]
        return PreparedSend(chunk, self._request(wire.OPEN_API, "sendOnce", *fields))

    def parse_send(self, prepared: PreparedSend, response: HttpResponse) -> SendResult:
        if (refused := send_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is None:
            return SendResult(Outcome.AMBIGUOUS, f"http_{response.status}", malformed=True)
        code = str(answer.result)
        outcome = outcome_of(answer.result)
        if outcome is None:
            return SendResult(Outcome.AMBIGUOUS, code, malformed=True)
        if outcome is not Outcome.ACCEPTED:
            return SendResult(outcome, code)
        self._learn_price(answer.items)
        msgid = next((m for item in answer.items if (m := item.get("msgid", "").strip())), "")
        if not msgid:
            return SendResult(outcome, code, malformed=True, detail="no msgid")
        return SendResult(outcome, code, dict.fromkeys(prepared.chunk.phones, msgid))

    def build_balance(self, now_ms: int) -> HttpRequest:
        return self._balance

    def parse_balance(self, response: HttpResponse) -> BalanceResult:
        if (refused := balance_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is None:
            return BalanceResult(Outcome.VENDOR_BUSY, f"http_{response.status}", malformed=True)
        code = str(answer.result)
        if answer.result != 1:
            return BalanceResult(outcome_of(answer.result) or Outcome.VENDOR_BUSY, code)
        remain = wire.parse_money(answer.items[0].get("remain") if answer.items else None)
        if remain is None:
            return BalanceResult(Outcome.VENDOR_BUSY, code, malformed=True)
        self._learn_price(answer.items)
        return BalanceResult(Outcome.ACCEPTED, code, segments=_segments(remain, self.price))

    @property
    def price(self) -> Decimal:
        """Yuan a segment costs at c123: its own word when it gave one, else ours."""
        if self._price is not None:
            return self._price
        return Decimal(str(self.settings.price_per_segment))

    def _learn_price(self, items: Sequence[Mapping[str, str]]) -> None:
        for item in items:
            price = wire.parse_money(item.get("price"))
            if price is not None and price > 0:
                self._price = price

    def build_report_poll(self, now_ms: int) -> HttpRequest:
        return self._reports

    def build_reply_poll(self, now_ms: int) -> HttpRequest:
        return self._replies

    def parse_poll(self, request: HttpRequest, response: HttpResponse) -> PollResult:
        if (refused := poll_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is None:
            return PollResult(Outcome.VENDOR_BUSY, f"http_{response.status}", malformed=True)
        code = str(answer.result)
        if answer.result != 1:
            return PollResult(outcome_of(answer.result) or Outcome.VENDOR_BUSY, code)
        if _action(request) == "getReply":
            replies = [_reply(item, self.zone) for item in answer.items]
            kept = tuple(r for r in replies if r is not None)
            return PollResult(Outcome.ACCEPTED, code, replies=kept, malformed=None in replies)
        reports = [_report(item) for item in answer.items]
        found = tuple(r for r in reports if r is not None)
        return PollResult(Outcome.ACCEPTED, code, reports=found, malformed=None in reports)

    def parse_push(self, request: HttpRequest) -> PushResult:
        # c123 pushes nothing: everything is polled.
        return PushResult(answer=HttpResponse(404, b""), accepted=False)


def _segments(remain: Decimal, price: Decimal) -> int | None:
    return max(0, int(remain / price)) if price > 0 else None


def _action(request: HttpRequest) -> str:
    pairs = parse_pairs(request.query.encode("utf-8")) + parse_pairs(request.body)
    found = [value for name, value in pairs if name == b"action" and value is not None]
    return found[-1].decode("latin-1").strip() if found else ""


def _report(item: Mapping[str, str]) -> Report | None:
    phone = item.get("mobile", "").strip()
    if not phone:
        return None
    operator = item.get("return", "").strip()
    result = item.get("result", "").strip()
    status = delivery_status(result, operator)
    return Report(phone, status, operator or result, item.get("msgid", "").strip() or None)


def _reply(item: Mapping[str, str], zone: tzinfo) -> Reply | None:
    phone, text = item.get("mobile", "").strip(), item.get("content")
    if not phone or text is None:
        return None
    return Reply(phone, text, wire.parse_epoch(item.get("time"), zone))
