"""The send log: one record per recipient per attempt at a vendor.

The send path writes an attempt's records as one :class:`SendChunk` (what
they share once, the numbers packed); each recipient still has its own key.
A record is written ``in_flight`` before its chunk leaves for the vendor
and settled by the attempt's outcome (:mod:`proxy.ledger`, through the
group-committing :mod:`proxy.recorder`).  The matcher reads it to tie a
delivery report or a reply to the client that sent (:mod:`proxy.ingest.matcher`);
the admin API and the metrics count what is unresolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class SendRecord(NamedTuple):
    """One recipient of one send at one vendor: written before the attempt, settled after.

    A tuple, not a dataclass: a 1000-recipient send makes a thousand of
    them, a frozen dataclass costs five times as much to build, and SQLite
    takes the tuple as it is.
    """

    send_id: str
    cpid: str
    vendor: str
    phone: str
    outcome: str  # one of RecordState's values
    vendor_code: str
    message_id: str | None
    text_digest: str
    segments: int
    created_ms: int


class SendChunk(NamedTuple):
    """The records of one attempt: its recipients at one vendor, written as one.

    Recipient ``i`` is the record of key ``first + i``, where ``first`` is the
    chunk's key.  ``message_ids``: one per phone, or None when none has one.
    """

    send_id: str
    cpid: str
    vendor: str
    phones: tuple[str, ...]
    outcome: str
    vendor_code: str
    message_ids: tuple[str | None, ...] | None
    text_digest: str
    segments: int
    created_ms: int

    def records(self) -> list[SendRecord]:
        ids = self.message_ids or (None,) * len(self.phones)
        return [
            SendRecord(
                self.send_id,
                self.cpid,
                self.vendor,
                phone,
                self.outcome,
                self.vendor_code,
                mid,
                self.text_digest,
                self.segments,
                self.created_ms,
            )
            for phone, mid in zip(self.phones, ids, strict=True)
        ]


def size(entry: SendRecord | SendChunk) -> int:
    """How many keys an entry of :meth:`SendLog.record_sends` takes."""
    return len(entry.phones) if isinstance(entry, SendChunk) else 1


class RecordState:
    """A send record's ``outcome``: what is known of the recipient at that vendor.

    A record is written ``in_flight`` before its chunk leaves for the vendor
    and settled by the attempt's outcome.  ``in_flight`` (the daemon died
    during the attempt) and ``ambiguous`` (no clear answer) are both
    *unresolved*: the vendor may have the message.  A delivery report from
    that vendor resolves them to ``accepted``; ``routing.unresolved_expire_s``
    without one lets a retry send them again.
    """

    IN_FLIGHT = "in_flight"
    ACCEPTED = "accepted"
    AMBIGUOUS = "ambiguous"
    NOT_SENT = "not_sent"
    UNRESOLVED = frozenset({IN_FLIGHT, AMBIGUOUS})


class SendSettlement(NamedTuple):
    """An attempt's outcome for the records ``first_key`` .. ``first_key + size - 1``."""

    first_key: int
    size: int
    outcome: str  # RecordState: ACCEPTED, AMBIGUOUS or NOT_SENT
    vendor_code: str
    message_ids: tuple[str | None, ...] | None = None  # per record, when the answer gave ids


@dataclass(frozen=True, slots=True)
class SendCandidate:
    """A send record a report may belong to."""

    key: int  # the store's identifier of the record
    cpid: str
    vendor: str
    message_id: str | None
    created_ms: int
    reported: frozenset[int]  # statuses already matched to this record


class CandidateQuery(NamedTuple):
    """Which send records a report may belong to: see :meth:`SendLog.send_candidates_many`."""

    vendors: tuple[str, ...]
    phone: str
    message_id: str | None


class SendLog(Protocol):
    async def record_sends(
        self,
        records: Sequence[SendRecord | SendChunk],
        settlements: Sequence[SendSettlement] = (),
    ) -> int:
        """Insert ``records`` and apply ``settlements`` in one write.

        Returns the key of the first record: the records (a chunk's in its
        phones' order) get consecutive keys, in order, which is what a
        :class:`SendSettlement` names.  A settlement
        only changes records still ``in_flight`` (a delivery report may have
        resolved one first).  A record's claim (:mod:`proxy.store.claims`)
        follows its outcome in the same write.
        """
        ...

    async def unresolved(self, since_ms: int, limit: int) -> tuple[int, list[SendRecord]]:
        """Records unresolved since ``since_ms``: how many, and the newest ``limit``."""
        ...

    async def send_candidates_many(
        self, queries: Sequence[CandidateQuery]
    ) -> list[list[SendCandidate]]:
        """For each query, in order, in one store call: the send records of its
        ``vendors`` to its ``phone`` a report may belong to, newest first.  With
        a message id: the records carrying it, and those carrying none (an
        ambiguous attempt has no id).  Without: all of them.  At most 100 a
        query; records not sent are never candidates.

        The matcher asks once per batch of reports, not once per report: a
        call costs far more than a look-up.  The answers are read together,
        so a record is reported alike in each list it is in.
        """
        ...

    async def last_sender(self, phone: str, vendors: Sequence[str] | None) -> str | None:
        """The client that last sent to ``phone`` (through ``vendors``, if given)."""
        ...

    async def purge(self, before_ms: int) -> int:
        """Forget records older than ``before_ms`` (a report later than that finds
        no send); returns how many."""
        ...
