"""chuanglan (253) as a vendor: send and balance are asked, reports and replies pushed.

Decisions where ``chuanglan.txt`` is ambiguous or silent (those about bytes
on the wire are in :mod:`adapters.chuanglan.wire`):

* Sends go as a UTF-8 POST form (the document allows GET or POST; 50000
  numbers are some 700 KB, too much for any URL), always with
  ``needstatus=true``: without it there is no msgid and no report.
* Text is capped at 536 characters, not the 700 of 1.2: the vendor's own
  code 106 refuses ``>536``, and 536 is exactly 8 long-message parts of 67.
* One msgid comes back per request, whatever the number of phones; every
  phone of the chunk gets it, and a report is matched by msgid and phone.
* Code 0 with no usable msgid line is ACCEPTED (the vendor said so) but
  ``malformed``, with no message ids.  An unknown code, or an unreadable 2xx
  answer, is AMBIGUOUS and malformed; an HTTP status outside 2xx means what
  :mod:`adapters.http_status` says.
* The balance query is a GET, the only form 4.5 shows.  It lists one
  ``productid,count`` line per product: we use the configured product's line,
  or the sum of all lines when none is configured (1.2 says a product must be
  configured when the account has several, so the sum is the one-product
  case).  A configured product missing from the list is AUTH_FAILED with raw
  code ``no_product``: a send would be refused 112, a set-up fault.  Counts
  are messages, and the vendor bills every long-message part as one, so they
  are segments.  The document asks for at most one query every 10 s (4.4).
* Pushes (2.1, 3.1): ``receiver`` and ``pswd`` are checked, in constant time,
  against ``report_receiver`` and ``report_password``; each one configured
  must be there and match.  The document lets both be empty: a vendor set up
  without ``report_password`` pushes no secret, and the push port then
  wants its ``push_token`` or ``push_allowed_ips``, refusing every push
  until one is set (:mod:`proxy.ingest.push_auth`).  A push with a
  ``status`` field is a report, else one with ``msg`` a reply.  The document
  does not say what to answer: an accepted push gets ``200`` with body ``0``
  (the vendor's own success code); a failed check ``403``, a push we cannot
  read ``400``.  An unreadable ``reportTime``/``moTime`` leaves the time
  empty, and an ``isems=1`` reply with an unreadable ``emshead`` keeps its
  text without a part: losing the words would be worse.
"""

from __future__ import annotations

import hmac
import re
from datetime import tzinfo
from typing import ClassVar
from zoneinfo import ZoneInfo

from adapters.base import BalanceResult, PollResult, PushResult, Reply, ReplyPart, Report
from adapters.chuanglan import wire
from adapters.chuanglan.codes import SEND_CODES, balance_outcome, delivery_status, send_outcome
from adapters.form import FORM
from adapters.http_status import balance_status, send_status
from config.vendor_kinds import ChuanglanSettings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend, SendResult, VendorLimits

PUSH_OK = HttpResponse(200, b"0", "text/plain")
PUSH_FORBIDDEN = HttpResponse(403, b"forbidden", "text/plain")
PUSH_UNREADABLE = HttpResponse(400, b"bad request", "text/plain")

_EMSHEAD = re.compile(r"([0-9A-Za-z]{1,32}) *, *([0-9]{1,3}) *, *([0-9]{1,3})")


class ChuanglanAdapter:
    kind: ClassVar[str] = "chuanglan"
    push_refused: ClassVar[HttpResponse] = PUSH_FORBIDDEN

    def __init__(self, settings: ChuanglanSettings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.limits = VendorLimits(
            max_numbers=50000,
            max_text_chars=536,
            balance_interval_s=10.0,
        )
        self._pswd = settings.password.get_secret_value()
        self._receiver = _expected(settings.report_receiver)
        self._receiver_pswd = _expected(
            settings.report_password.get_secret_value() if settings.report_password else None
        )

    def __repr__(self) -> str:
        return f"<ChuanglanAdapter {self.settings.name} account={self.settings.account}>"

    def build_send(self, chunk: Chunk, now_ms: int) -> PreparedSend:
        s = self.settings
        body = wire.encode_send(s.account, self._pswd, chunk.phones, chunk.text, s.product, s.extno)
        request = HttpRequest("POST", wire.SEND_PATH, body=body, content_type=FORM)
        return PreparedSend(chunk, request)

    def parse_send(self, prepared: PreparedSend, response: HttpResponse) -> SendResult:
        if (refused := send_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is None:
            return SendResult(Outcome.AMBIGUOUS, f"http_{response.status}", malformed=True)
        raw = str(answer.code)
        outcome = send_outcome(answer.code)
        if outcome is None:
            return SendResult(Outcome.AMBIGUOUS, raw, malformed=True, detail="unknown code")
        if outcome is not Outcome.ACCEPTED:
            return SendResult(outcome, raw, detail=SEND_CODES[answer.code][1])
        if len(answer.lines) != 1 or not wire.is_msgid(answer.lines[0]):
            return SendResult(outcome, raw, malformed=True, detail="no usable msgid")
        msgid = answer.lines[0]
        return SendResult(outcome, raw, {phone: msgid for phone in prepared.chunk.phones})

    def build_balance(self, now_ms: int) -> HttpRequest:
        query = wire.encode_auth(self.settings.account, self._pswd)
        return HttpRequest("GET", wire.BALANCE_PATH, query=query)

    def parse_balance(self, response: HttpResponse) -> BalanceResult:
        if (refused := balance_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is None:
            return BalanceResult(Outcome.VENDOR_BUSY, f"http_{response.status}", malformed=True)
        if answer.code != 0:
            outcome = balance_outcome(answer.code)
            if outcome is None:
                return BalanceResult(Outcome.VENDOR_BUSY, str(answer.code), malformed=True)
            return BalanceResult(outcome, str(answer.code))
        counts = wire.decode_counts(answer.lines)
        if counts is None:
            return BalanceResult(Outcome.VENDOR_BUSY, "0", malformed=True)
        product = self.settings.product
        if product is None:
            return BalanceResult(Outcome.ACCEPTED, "0", segments=sum(c for _, c in counts))
        mine = [c for p, c in counts if p == product]
        if not mine:
            return BalanceResult(Outcome.AUTH_FAILED, "no_product")
        return BalanceResult(Outcome.ACCEPTED, "0", segments=sum(mine))

    def build_report_poll(self, now_ms: int) -> HttpRequest | None:
        return None  # chuanglan pushes its reports

    def build_reply_poll(self, now_ms: int) -> HttpRequest | None:
        return None  # and its replies

    def parse_poll(self, request: HttpRequest, response: HttpResponse) -> PollResult:
        # Nothing is ever polled from chuanglan: whatever this answers, it is not ours.
        return PollResult(Outcome.VENDOR_BUSY, "no_poll", malformed=True)

    def parse_push(self, request: HttpRequest) -> PushResult:
        body = request.body if request.method == "POST" else b""
        fields = wire.decode_fields(request.query.encode("utf-8"), body)
        if not self._authentic(fields):
            return PushResult(answer=PUSH_FORBIDDEN, accepted=False)
        if "status" in fields:
            report = _report(fields, self.zone)
            if report is not None:
                return PushResult(reports=(report,), answer=PUSH_OK)
        elif "msg" in fields:
            reply = _reply(fields, self.zone)
            if reply is not None:
                return PushResult(replies=(reply,), answer=PUSH_OK)
        return PushResult(answer=PUSH_UNREADABLE, accepted=False)

    def _authentic(self, fields: dict[str, str]) -> bool:
        # Both checks always run, so the time taken says nothing about which failed.
        receiver_ok = _matches(self._receiver, fields.get("receiver"))
        pswd_ok = _matches(self._receiver_pswd, fields.get("pswd"))
        return receiver_ok and pswd_ok


def _expected(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8")


def _matches(expected: bytes | None, got: str | None) -> bool:
    if expected is None:
        return True
    return hmac.compare_digest(expected, (got or "").encode("utf-8"))


def _report(fields: dict[str, str], zone: tzinfo) -> Report | None:
    phone, msgid, raw = (fields.get(k, "").strip() for k in ("mobile", "msgid", "status"))
    if not phone or not msgid or not raw:
        return None
    when = wire.parse_push_time(fields.get("reporttime", ""), zone)
    return Report(phone, delivery_status(raw), raw, msgid, when)


def _reply(fields: dict[str, str], zone: tzinfo) -> Reply | None:
    phone = fields.get("mobile", "").strip()
    if not phone:
        return None
    part = _part(fields.get("emshead", "")) if fields.get("isems", "").strip() == "1" else None
    return Reply(
        phone,
        fields["msg"],
        wire.parse_push_time(fields.get("motime", ""), zone),
        fields.get("destcode", "").strip(),
        part,
    )


def _part(emshead: str) -> ReplyPart | None:
    """``id,total,index`` (3.1), e.g. ``234,4,1``: part 1 of 4 of long message 234."""
    m = _EMSHEAD.fullmatch(emshead.strip())
    if m is None:
        return None
    ref, total, index = m.group(1), int(m.group(2)), int(m.group(3))
    if not 1 <= index <= total:
        return None
    return ReplyPart(ref, total, index)
