"""The adapter contract: one vendor = one sans-io codec.

An adapter turns our words (a :class:`~core.send.Chunk` to send, a balance
question, a report poll) into an :class:`~core.send.HttpRequest`, and a
vendor's :class:`~core.send.HttpResponse` back into our words (a
:class:`~core.send.SendResult` carrying an :class:`~core.outcome.Outcome`, a
:class:`BalanceResult`, :class:`Report` and :class:`Reply` records).  What
one send is made of lives in :mod:`core.send`, shared with routing; what
only adapters and their callers speak of is here.  It performs no I/O and reads no clock: the
current time is passed in, so every build is reproducible in a golden test.

Contract, for every adapter:

* ``parse_*`` first hand the HTTP status to :mod:`adapters.http_status`,
  the one table of what a status outside 2xx means for every vendor: 429
  RATE_LIMITED; 401 AUTH_FAILED and 403 IP_REJECTED; any other 4xx REFUSED
  (not sent, a configuration fault such as a wrong ``base_url``); 5xx
  VENDOR_BUSY.  A ``500`` is VENDOR_BUSY, not AMBIGUOUS: it is the vendor's
  application saying it failed, and the vendors' documents define
  acceptance only by their own codes in a 200 answer.  Only a 2xx body is
  read.
* ``parse_*`` never raise.  An unknown code, an empty body, XML or JSON
  that does not parse, or a body in the wrong charset becomes a safe
  outcome: :attr:`Outcome.AMBIGUOUS` for a send that the vendor may have
  acted on, :attr:`Outcome.VENDOR_BUSY` for a balance query or a poll; the
  ``malformed`` flag of the result says it was not understood.
* ``build_send`` is given at most ``limits.max_numbers`` phones; splitting a
  larger send is :func:`core.send.split_chunks`' job, driven by the declared limits.
* ``raw_code`` is the vendor's own code as text, for logs and metrics only.

Transport errors are not the adapter's business: :mod:`adapters.transport`
turns them into outcomes before the adapter sees a response.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from core.outcome import Outcome
from core.send import (
    Chunk,
    HttpRequest,
    HttpResponse,
    PreparedSend,
    SendResult,
    VendorLimits,
)

EMPTY_OK = HttpResponse(200, b"")


@dataclass(frozen=True, slots=True)
class BalanceResult:
    outcome: Outcome
    raw_code: str
    segments: int | None = None  # what the balance buys, in segments
    malformed: bool = False


class DeliveryStatus(enum.IntEnum):
    """The esms100 report values that legacy clients understand."""

    UNKNOWN = 0
    DELIVERED = 1
    FAILED = 2


@dataclass(frozen=True, slots=True)
class Report:
    phone: str
    status: DeliveryStatus
    raw_status: str
    message_id: str | None  # the vendor's (or our) identifier, for correlation
    time: datetime | None = None  # aware: read in the vendor's timezone


@dataclass(frozen=True, slots=True)
class ReplyPart:
    ref: str  # the long message's reference, shared by its parts
    total: int
    index: int  # 1-based


@dataclass(frozen=True, slots=True)
class Reply:
    phone: str
    text: str
    time: datetime | None = None  # aware: read in the vendor's timezone
    dest: str = ""  # the number (or extension) the person replied to
    part: ReplyPart | None = None
    message_id: str | None = None  # the vendor's id of the reply, where it gives one


@dataclass(frozen=True, slots=True)
class PollResult:
    outcome: Outcome
    raw_code: str
    reports: tuple[Report, ...] = ()
    replies: tuple[Reply, ...] = ()
    malformed: bool = False


@dataclass(frozen=True, slots=True)
class PushResult:
    """What a vendor pushed to us, and the bytes to answer it with."""

    reports: tuple[Report, ...] = ()
    replies: tuple[Reply, ...] = ()
    answer: HttpResponse = EMPTY_OK
    accepted: bool = True  # False: authentication failed or body not understood


class Adapter(Protocol):
    """One vendor's codec.  See the module docstring for the contract."""

    kind: ClassVar[str]
    limits: VendorLimits

    def build_send(self, chunk: Chunk, now_ms: int) -> PreparedSend: ...

    def parse_send(self, prepared: PreparedSend, response: HttpResponse) -> SendResult: ...

    def build_balance(self, now_ms: int) -> HttpRequest | None:
        """None when the vendor has no balance query."""
        ...

    def parse_balance(self, response: HttpResponse) -> BalanceResult: ...

    def build_report_poll(self, now_ms: int) -> HttpRequest | None:
        """None when the vendor pushes its reports instead."""
        ...

    def build_reply_poll(self, now_ms: int) -> HttpRequest | None: ...

    def parse_poll(self, request: HttpRequest, response: HttpResponse) -> PollResult: ...

    def parse_push(self, request: HttpRequest) -> PushResult:
        """A report or reply the vendor pushed to the daemon."""
        ...
