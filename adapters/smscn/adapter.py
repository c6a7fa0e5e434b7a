"""sms.cn as a vendor: send, balance, report and reply polls, reply pushes.

Decisions where ``smscn.txt`` is silent or ambiguous (see also :mod:`.wire`):

* Charset: the vendor reads GBK unless told ``encode=utf8``; we always send
  UTF-8 with ``encode=utf8``, because GBK cannot carry every character a
  client may send.  Answers are GBK.
* Method: a GET while the numbers fit its cap of 50 *and* the query stays
  within 2048 characters (IIS's default query limit, and the vendor speaks
  ASP); otherwise a POST form, up to 2000 numbers, as the document advises.
* ``mobileids``: one per phone, see :func:`.wire.mobile_ids`; they are what
  ``/st/`` reports carry, so they are both ``PreparedSend.message_ids`` and,
  on success, ``SendResult.message_ids``.
* Text: the document gives no length cap (105 is only "too much content");
  we declare 500 characters.
* Intervals: none documented.  Reports and replies are polled every 10 s
  (``/rx/`` hands out each reply once, so polling more often gains nothing);
  the balance every 60 s.
* ``/mm/``'s ``remain`` counts messages; one message is one segment.  A
  negative remain (an overdrawn account) is 0.
* Report status: the document shows only ``100``; that is DELIVERED, any
  other value FAILED, and the raw value is kept.
* Reply pushes (6.2): the parameter table (``cmd=res``, ``uid``, ``mobile``,
  ``content``, ``time``) is taken as the truth; the example line above it
  (``mobileids``, ``status``) reads like a report push, so a push with those
  fields and no ``content`` is taken as a report.  Text is GBK unless the push
  says ``encode=utf8``.  The push carries no password: a ``uid`` that is not
  ours is refused, and as a uid is only the account name the push port also
  wants the vendor's ``push_token`` or ``push_allowed_ips``
  (:mod:`proxy.ingest.push_auth`).  The document names no answer; we answer
  ``100`` (the vendor's own "success"), or HTTP 403 ``101``
  (:attr:`push_refused`) / 400 ``108`` when refused.
* Polls: a listing is taken even when some of its lines are not understood
  (the vendor hands each record out once, so dropping the batch would lose
  the good ones); ``malformed`` is then set.  A listing of which nothing is
  understood is VENDOR_BUSY and malformed.
* An unknown code on a send is AMBIGUOUS (the vendor may have sent it); an
  HTTP status outside 2xx means what :mod:`adapters.http_status` says.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import ClassVar
from zoneinfo import ZoneInfo

from adapters.base import BalanceResult, DeliveryStatus, PollResult, PushResult, Reply, Report
from adapters.esms100.wire import decode_params
from adapters.form import FORM
from adapters.http_status import balance_status, poll_status, send_status
from adapters.smscn import wire
from adapters.smscn.codes import outcome_of
from config.vendor_kinds import SmscnSettings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend, SendResult, VendorLimits

GET_MAX_NUMBERS = 50
GET_MAX_QUERY = 2048
DELIVERED = "100"


class SmscnAdapter:
    kind: ClassVar[str] = "smscn"
    push_refused: ClassVar[HttpResponse] = HttpResponse(403, b"101", "text/plain")

    def __init__(self, settings: SmscnSettings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.limits = VendorLimits(
            max_numbers=2000,
            max_text_chars=500,
            balance_interval_s=60.0,
            report_poll_interval_s=10.0,
            reply_poll_interval_s=10.0,
        )
        # Hashed once: the digest is all the wire ever needs.
        self._pwd = wire.password_digest(settings.password.get_secret_value(), settings.uid)
        self._auth = wire.encode_auth(settings.uid, self._pwd)
        # The millisecond the last request's ids used: the next starts after it.
        self._last_id_ms = 0

    def __repr__(self) -> str:
        return f"<SmscnAdapter {self.settings.name} uid={self.settings.uid}>"

    def build_send(self, chunk: Chunk, now_ms: int) -> PreparedSend:
        ids, self._last_id_ms = wire.mobile_ids(chunk.phones, max(now_ms, self._last_id_ms + 1))
        form = wire.encode_send(
            self.settings.uid, self._pwd, self.settings.mid, chunk.phones, ids, chunk.text
        )
        if len(chunk.phones) <= GET_MAX_NUMBERS and len(form) <= GET_MAX_QUERY:
            request = HttpRequest("GET", "/mt/", query=form)
        else:
            request = HttpRequest("POST", "/mt/", body=form.encode("ascii"), content_type=FORM)
        return PreparedSend(chunk, request, dict(zip(chunk.phones, ids, strict=True)))

    def parse_send(self, prepared: PreparedSend, response: HttpResponse) -> SendResult:
        if (refused := send_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is None:
            return SendResult(Outcome.AMBIGUOUS, f"http_{response.status}", malformed=True)
        detail = answer.fields.get("message", "")[:100]
        outcome = outcome_of(answer.stat)
        if outcome is None:
            return SendResult(Outcome.AMBIGUOUS, str(answer.stat), malformed=True, detail=detail)
        ids = prepared.message_ids if outcome is Outcome.ACCEPTED else {}
        return SendResult(outcome, str(answer.stat), ids, detail=detail)

    def build_balance(self, now_ms: int) -> HttpRequest:
        return HttpRequest("GET", "/mm/", query=self._auth)

    def parse_balance(self, response: HttpResponse) -> BalanceResult:
        if (refused := balance_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is None:
            return BalanceResult(Outcome.VENDOR_BUSY, f"http_{response.status}", malformed=True)
        if answer.stat != wire.OK:
            return _balance_error(answer.stat)
        remain = answer.fields.get("remain", "")
        if not wire.is_digits(remain.removeprefix("-")):
            return BalanceResult(Outcome.VENDOR_BUSY, str(answer.stat), malformed=True)
        return BalanceResult(Outcome.ACCEPTED, str(answer.stat), segments=max(0, int(remain)))

    def build_report_poll(self, now_ms: int) -> HttpRequest:
        return HttpRequest("GET", "/st/", query=self._auth)

    def build_reply_poll(self, now_ms: int) -> HttpRequest:
        return HttpRequest("GET", "/rx/", query=self._auth)

    def parse_poll(self, request: HttpRequest, response: HttpResponse) -> PollResult:
        if (refused := poll_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is not None:
            return _poll_code(answer.stat)
        code = wire.decode_bare_code(response.body)
        if code is not None:
            return _poll_code(code)
        if request.path == "/st/":
            return _reports(response.body, self.zone)
        return _replies(response.body, self.zone)

    def parse_push(self, request: HttpRequest) -> PushResult:
        query = request.query.encode("utf-8", errors="replace")
        params = decode_params(query, request.body)
        if params.get("uid") != self.settings.uid:
            return PushResult(answer=self.push_refused, accepted=False)
        if params.get("cmd") != "res":
            return _refused(400, b"108")
        phone, text = params.get("mobile"), params.values.get("content")
        if phone is not None and text is not None:
            reply = Reply(phone, text, wire.parse_time(params.get("time") or "", self.zone))
            return PushResult(replies=(reply,), answer=_PUSH_OK)
        ids, status = wire.split_list(params.get("mobileids")), params.get("status")
        if phone is not None and status is not None and len(ids) == 1:
            report = Report(phone, _status(status), status, ids[0])
            return PushResult(reports=(report,), answer=_PUSH_OK)
        return _refused(400, b"108")


_PUSH_OK = HttpResponse(200, b"100", "text/plain")


def _refused(status: int, code: bytes) -> PushResult:
    return PushResult(answer=HttpResponse(status, code, "text/plain"), accepted=False)


def _status(raw: str) -> DeliveryStatus:
    return DeliveryStatus.DELIVERED if raw == DELIVERED else DeliveryStatus.FAILED


def _balance_error(stat: int) -> BalanceResult:
    outcome = outcome_of(stat)
    if outcome is None:
        return BalanceResult(Outcome.VENDOR_BUSY, str(stat), malformed=True)
    return BalanceResult(outcome, str(stat))


def _poll_code(stat: int) -> PollResult:
    """A poll answered with a code instead of a listing."""
    outcome = outcome_of(stat)
    if outcome is None:
        return PollResult(Outcome.VENDOR_BUSY, str(stat), malformed=True)
    return PollResult(outcome, str(stat))


def _reports(body: bytes, zone: tzinfo) -> PollResult:
    lines, bad = wire.decode_reports(body, zone)
    if bad and not lines:
        return PollResult(Outcome.VENDOR_BUSY, "malformed", malformed=True)
    reports = tuple(
        Report(r.phone, _status(r.status), r.status, r.mobile_id, r.time) for r in lines
    )
    return PollResult(Outcome.ACCEPTED, str(len(reports)), reports=reports, malformed=bad > 0)


def _replies(body: bytes, zone: tzinfo) -> PollResult:
    listing = wire.decode_replies(body, zone)
    if listing is None or (listing.bad and not listing.records):
        return PollResult(Outcome.VENDOR_BUSY, "malformed", malformed=True)
    if listing.stat != wire.OK:
        return _poll_code(listing.stat)
    replies = tuple(Reply(r.phone, r.text, r.time, r.gateway) for r in listing.records)
    return PollResult(
        Outcome.ACCEPTED, str(len(replies)), replies=replies, malformed=listing.bad > 0
    )
