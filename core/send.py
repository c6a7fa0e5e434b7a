"""One send to one vendor, in the words routing and every adapter share.

Routing cuts a send into :class:`Chunk` s of at most a vendor's
:class:`VendorLimits` ``max_numbers`` phones, hands each to a
:class:`SendClient` and gets a :class:`SendResult` back.  An adapter (see
:mod:`adapters.base`) turns a chunk into a :class:`PreparedSend` (an
:class:`HttpRequest`, with the ids we chose) and the vendor's
:class:`HttpResponse` into the result.  Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, NamedTuple, Protocol

from core.outcome import Outcome

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


class SendClient(Protocol):
    """What routing needs of a vendor: :class:`adapters.client.VendorClient` is the daemon's.

    Sending is two steps so that the router can record the attempt, with the
    ids chosen for it, before anything leaves.  Neither step raises: what
    goes wrong is a :class:`SendResult` with its outcome.
    """

    @property
    def limits(self) -> VendorLimits: ...

    def prepare(self, chunk: Chunk) -> PreparedSend | SendResult:
        """The request for ``chunk``; a SendResult if it can not be built."""
        ...

    async def complete(self, prepared: PreparedSend) -> SendResult:
        """Send a prepared request and say what its answer means."""
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
