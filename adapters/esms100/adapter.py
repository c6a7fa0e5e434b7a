"""esms100 as a vendor: send, balance, report and reply polls.

Decisions:

* Sends are UTF-8 with ``encode=utf8``: GBK cannot carry every character a
  client may send.  A send whose form fits in 2048 bytes is a GET, as in the
  document's examples (one socket write instead of headers, then body);
  longer ones are a POST form, which has no URL length limit.  Up to 1000
  numbers a request, 134 characters of text.
* ``/qamount/`` answers messages left; one message is one segment.
* esms100 has no message id: a report is matched by number and send time.
* An unknown code on a send is AMBIGUOUS (the vendor may have sent it); an
  HTTP status outside 2xx means what :mod:`adapters.http_status` says.
"""

from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo

from adapters.base import BalanceResult, DeliveryStatus, PollResult, PushResult, Reply, Report
from adapters.esms100 import wire
from adapters.esms100.codes import outcome_of
from adapters.form import FORM
from adapters.http_status import balance_status, poll_status, send_status
from config.vendor_kinds import Esms100Settings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend, SendResult, VendorLimits

GET_MAX_QUERY = 2048  # IIS's and many proxies' default limit on a query
ACCEPTED = SendResult(Outcome.ACCEPTED, "0")  # immutable, so one for every send


class Esms100Adapter:
    kind: ClassVar[str] = "esms100"

    def __init__(self, settings: Esms100Settings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.limits = VendorLimits(
            max_numbers=1000,
            max_text_chars=134,
            balance_interval_s=60.0,
            report_poll_interval_s=5.0,
            reply_poll_interval_s=60.0,
        )
        # Hashed once: the digest is all the wire ever needs.
        self._cppwd = wire.password_digest(settings.password.get_secret_value())
        self._auth = wire.encode_auth(settings.cpid, self._cppwd)
        self._send_head = wire.send_form_head(settings.cpid, self._cppwd)

    def __repr__(self) -> str:
        return f"<Esms100Adapter {self.settings.name} cpid={self.settings.cpid}>"

    def build_send(self, chunk: Chunk, now_ms: int) -> PreparedSend:
        form = wire.send_form(self._send_head, chunk.phones, chunk.text)
        if len(form) <= GET_MAX_QUERY:
            # esms100's own examples are GETs; a short one is one write, not two.
            return PreparedSend(chunk, HttpRequest("GET", "/mt/", query=form))
        return PreparedSend(
            chunk, HttpRequest("POST", "/mt/", body=form.encode("ascii"), content_type=FORM)
        )

    def parse_send(self, prepared: PreparedSend, response: HttpResponse) -> SendResult:
        if response.body == b"0" and response.status == 200:  # all but a few answers
            return ACCEPTED
        if (refused := send_status(response)) is not None:
            return refused
        code = wire.decode_code(response.body)
        if code is None:
            return SendResult(Outcome.AMBIGUOUS, f"http_{response.status}", malformed=True)
        outcome = outcome_of(code)
        if outcome is None:
            return SendResult(Outcome.AMBIGUOUS, str(code), malformed=True)
        return SendResult(outcome, str(code))

    def build_balance(self, now_ms: int) -> HttpRequest:
        return HttpRequest("GET", "/qamount/", query=self._auth)

    def parse_balance(self, response: HttpResponse) -> BalanceResult:
        if (refused := balance_status(response)) is not None:
            return refused
        code = wire.decode_code(response.body)
        if code is None:
            return BalanceResult(Outcome.VENDOR_BUSY, f"http_{response.status}", malformed=True)
        if code >= 0:
            return BalanceResult(Outcome.ACCEPTED, "0", segments=code)
        return BalanceResult(outcome_of(code) or Outcome.VENDOR_BUSY, str(code))

    def build_report_poll(self, now_ms: int) -> HttpRequest:
        return HttpRequest("GET", "/qreport/", query=self._auth)

    def build_reply_poll(self, now_ms: int) -> HttpRequest:
        return HttpRequest("GET", "/mo/", query=self._auth)

    def parse_poll(self, request: HttpRequest, response: HttpResponse) -> PollResult:
        if (refused := poll_status(response)) is not None:
            return refused
        if request.path == "/qreport/":
            lines = wire.decode_reports(response.body, self.zone)
            if not isinstance(lines, wire.Listing) or (lines.bad and not lines.items):
                return _poll_error(lines if isinstance(lines, int) else None)
            reports = tuple(
                Report(r.phone, _status(r.status), str(r.status), None, r.time) for r in lines.items
            )
            return PollResult(
                Outcome.ACCEPTED, str(len(reports)), reports=reports, malformed=lines.bad > 0
            )
        records = wire.decode_replies(response.body, self.zone)
        if not isinstance(records, wire.Listing) or (records.bad and not records.items):
            return _poll_error(records if isinstance(records, int) else None)
        replies = tuple(Reply(r.phone, r.text, r.time) for r in records.items)
        return PollResult(
            Outcome.ACCEPTED, str(len(replies)), replies=replies, malformed=records.bad > 0
        )

    def parse_push(self, request: HttpRequest) -> PushResult:
        # esms100 pushes nothing: everything is polled.
        return PushResult(answer=HttpResponse(404, b""), accepted=False)


def _status(value: int) -> DeliveryStatus:
    try:
        return DeliveryStatus(value)
    except ValueError:
        return DeliveryStatus.UNKNOWN


def _poll_error(code: int | None) -> PollResult:
    if code is None:
        return PollResult(Outcome.VENDOR_BUSY, "malformed", malformed=True)
    return PollResult(outcome_of(code) or Outcome.VENDOR_BUSY, str(code))
