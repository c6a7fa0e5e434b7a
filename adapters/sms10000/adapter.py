"""sms10000 as a vendor: sends, and the reports and replies it pushes to us.

Decisions where ``sms10000.txt`` is silent (codes: see :mod:`.codes`; bytes: :mod:`.wire`):

* Sends are a UTF-8 form POSTed to ``/api/webservice`` (GET or POST are
  allowed; a POST has no URL length limit) asking for JSON (``format=1``);
  an XML answer is read too.
* ``msgId`` is the chunk's ``attempt_id``.  The vendor wants an int, so one of
  2**31 or more is a bug of ours and fails the build rather than wrap and
  collide.  Reports come back keyed by msgId and mobile: every phone's
  message id is ``str(msgId)``.
* The document states no caps.  We send at most 1000 numbers and 500
  characters a request; the simulator refuses more with ``-1``.
* The text goes as given: the vendor adds the account's 【signature】 itself
  and answers ``-8`` when the signature does not match the registered one.
* There is no balance query: :meth:`build_balance` returns None, so the router
  never sees sms10000's balance and learns it only from sends (a ``0`` whose
  tips name the balance is BALANCE_EXHAUSTED).  There are no polls either:
  reports and replies are pushed.
* No code means rate limited or bad recipient.  The simulator answers those
  with ``0`` (VENDOR_BUSY: fail over, count toward ejection) and ``-1``
  (REQUEST_INVALID: no fail over, as for a bad recipient); the contract
  suite's aliases say so.
* A reply push's ``msgId`` (the reply's own id) is kept as ``Reply.message_id``,
  so that a re-push can be told from a new reply.  It is not taken as unique
  alone: the document's example gives two different replies one msgId.
* A push is answered HTTP 200 ``SUCCESS`` only when its body parsed and every
  item carries our eprId and userId (the document lists both in every item;
  one missing or empty is not ours).  Otherwise it is answered ``FAIL`` (400
  not understood, 403 another account's, :attr:`push_refused`) and not
  accepted, so the vendor pushes it again.  eprId and userId are account
  names, no secret: the push port also wants the vendor's ``push_token`` or
  ``push_allowed_ips`` (:mod:`proxy.ingest.push_auth`).
* An unknown code on a send, or an unreadable 2xx body, is AMBIGUOUS (the
  vendor may have sent it; an unreadable body is malformed too); an HTTP
  status outside 2xx means what :mod:`adapters.http_status` says.
"""

from __future__ import annotations

import re
from typing import ClassVar

from adapters.base import BalanceResult, PollResult, PushResult, Reply, Report
from adapters.form import FORM
from adapters.http_status import send_status
from adapters.sms10000 import wire
from adapters.sms10000.codes import delivery_status, outcome_of
from config.vendor_kinds import Sms10000Settings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend, SendResult, VendorLimits

MAX_MSG_ID = 2**31 - 1
# A push is a few hundred bytes an item; more than this is not one.
MAX_PUSH_BYTES = 1024 * 1024
_CODE = re.compile(r"-?[0-9]{1,9}")
_SUCCESS = HttpResponse(200, b"SUCCESS", "text/plain")
_NOT_UNDERSTOOD = PushResult(answer=HttpResponse(400, b"FAIL", "text/plain"), accepted=False)
PUSH_REFUSED = HttpResponse(403, b"FAIL", "text/plain")
_NOT_OURS = PushResult(answer=PUSH_REFUSED, accepted=False)
_UNSUPPORTED = "unsupported"


class Sms10000Adapter:
    kind: ClassVar[str] = "sms10000"
    push_refused: ClassVar[HttpResponse] = PUSH_REFUSED

    def __init__(self, settings: Sms10000Settings) -> None:
        self.settings = settings
        self.limits = VendorLimits(
            max_numbers=1000,
            max_text_chars=500,
            balance_interval_s=3600.0,  # never used: there is no balance query
        )

    def __repr__(self) -> str:
        s = self.settings
        return f"<Sms10000Adapter {s.name} eprId={s.epr_id} userId={s.user_id}>"

    def build_send(self, chunk: Chunk, now_ms: int) -> PreparedSend:
        if not 0 <= chunk.attempt_id <= MAX_MSG_ID:
            raise ValueError(f"attempt_id {chunk.attempt_id} does not fit sms10000's int msgId")
        body = wire.encode_send(
            epr_id=self.settings.epr_id,
            user_id=self.settings.user_id,
            password=self.settings.password.get_secret_value(),
            timestamp=now_ms,
            msg_id=chunk.attempt_id,
            phones=chunk.phones,
            text=chunk.text,
        )
        msg_id = str(chunk.attempt_id)
        return PreparedSend(
            chunk,
            HttpRequest("POST", wire.PATH, body=body, content_type=FORM),
            {phone: msg_id for phone in chunk.phones},
        )

    def parse_send(self, prepared: PreparedSend, response: HttpResponse) -> SendResult:
        if (refused := send_status(response)) is not None:
            return refused
        answer = wire.decode_answer(response.body)
        if answer is None:
            return SendResult(Outcome.AMBIGUOUS, f"http_{response.status}", malformed=True)
        tips = answer.tips[:100]
        code = int(answer.result) if _CODE.fullmatch(answer.result) else None
        outcome = None if code is None else outcome_of(code, answer.tips)
        if code is None or outcome is None:
            return SendResult(Outcome.AMBIGUOUS, answer.result[:20], malformed=True, detail=tips)
        ids = prepared.message_ids if outcome is Outcome.ACCEPTED else {}
        return SendResult(outcome, str(code), ids, detail=tips)

    def build_balance(self, now_ms: int) -> HttpRequest | None:
        return None

    def parse_balance(self, response: HttpResponse) -> BalanceResult:
        return BalanceResult(Outcome.REQUEST_INVALID, _UNSUPPORTED)

    def build_report_poll(self, now_ms: int) -> HttpRequest | None:
        return None

    def build_reply_poll(self, now_ms: int) -> HttpRequest | None:
        return None

    def parse_poll(self, request: HttpRequest, response: HttpResponse) -> PollResult:
        return PollResult(Outcome.REQUEST_INVALID, _UNSUPPORTED)

    def parse_push(self, request: HttpRequest) -> PushResult:
        push = wire.decode_push(request.body) if len(request.body) <= MAX_PUSH_BYTES else None
        if push is None:
            return _NOT_UNDERSTOOD
        if not all(self._ours(item) for item in push.items):
            return _NOT_OURS
        if push.type == wire.STATUS_PUSH:
            reports = tuple(
                Report(i.mobile, delivery_status(i.status), i.status[:20], i.msg_id)
                for i in push.items
            )
            return PushResult(reports=reports, answer=_SUCCESS)
        replies = tuple(Reply(i.mobile, i.content, message_id=i.msg_id or None) for i in push.items)
        return PushResult(replies=replies, answer=_SUCCESS)

    def _ours(self, item: wire.PushItem) -> bool:
        return item.epr_id == str(self.settings.epr_id) and item.user_id == self.settings.user_id
