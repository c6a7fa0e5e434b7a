"""The adapter contract: one vendor = one sans-io codec.

An adapter turns our words (a :class:`Chunk` to send, a balance question, a
report poll) into an :class:`HttpRequest`, and a vendor's
:class:`HttpResponse` back into our words (a :class:`SendResult` carrying an
:class:`~routing.outcome.Outcome`, a :class:`BalanceResult`, :class:`Report`
and :class:`Reply` records).  It performs no I/O and reads no clock: the
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
  larger send is :func:`split_chunks`' job, driven by the declared limits.
* ``raw_code`` is the vendor's own code as text, for logs and metrics only.

Transport errors are not the adapter's business: :mod:`adapters.transport`
turns them into outcomes before the adapter sees a response.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar, Literal, NamedTuple, Protocol

from routing.outcome import Outcome

# What a send is made of, built once or more for every send, is named tuples:
# they cost a third of frozen dataclasses to build, and are as immutable.


class HttpRequest(NamedTuple):
    """A request to a vendor, or a push from one, as bytes on the wire."""

    method: Literal["GET", "POST"]
    path: str
    query: str = ""  # already percent-encoded, no leading '?'
    body: bytes = b""
    content_type: str | None = None
    remote: str = ""  # peer address, for pushes received by the daemon


class HttpResponse(NamedTuple):
    status: int
    body: bytes
    content_type: str = ""


EMPTY_OK = HttpResponse(200, b"")


@dataclass(frozen=True, slots=True)
class VendorLimits:
    max_numbers: int  # phones in one request
    max_text_chars: int  # characters of text the vendor takes in one message
    balance_interval_s: float  # the vendor's minimum interval between balance queries
    report_poll_interval_s: float | None = None  # None: the vendor pushes, or has none
    reply_poll_interval_s: float | None = None


NO_IDS: Mapping[str, str] = MappingProxyType({})  # the default of every result: read-only


class Chunk(NamedTuple):
    """The recipients of one send that go to one vendor in one request."""

    phones: tuple[str, ...]
    text: str
    attempt_id: int  # unique per attempt; fits in 31 bits for vendors that want an int


class PreparedSend(NamedTuple):
    chunk: Chunk
    request: HttpRequest
    # Identifiers we chose before sending (sms.cn mobileids, sms10000 msgId),
    # by phone; the vendor's own identifiers come back in SendResult.
    message_ids: Mapping[str, str] = NO_IDS


class SendResult(NamedTuple):
    outcome: Outcome
    raw_code: str
    message_ids: Mapping[str, str] = NO_IDS  # phone -> vendor id
    malformed: bool = False
    detail: str = ""


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


def split_chunks(phones: Sequence[str], max_numbers: int) -> Iterator[tuple[str, ...]]:
    """Cut a send's recipients into request-sized chunks, in order."""
    for start in range(0, len(phones), max_numbers):
        yield tuple(phones[start : start + max_numbers])


def segments(text: str) -> int:
    """Billing units: up to 70 characters is one; longer text goes in parts of 67."""
    n = len(text)
    if n <= 70:
        return 1
    return -(-n // 67)
