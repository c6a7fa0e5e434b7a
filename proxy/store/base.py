"""The state store: everything several daemons would have to share.

One narrow interface, two engines (SQLite here; Redis to scale out), one
contract test suite (``tests/store/test_store_contract.py``).  Every method is
one atomic operation, so callers never hold a transaction open across an
``await``.

Reports and replies travel through two stages.  What a vendor hands over is
first written to an *inbox* (:meth:`Store.add_reports`, :meth:`Store.add_replies`),
durably and once: a row whose ``(account, key)`` is already there is a
duplicate and is dropped.  Only then is the vendor answered.  The matcher
then *settles* inbox rows: a report is tied to its send record and queued for
that record's client, retried while the record may still be on its way to
disk, or kept as unmatched for inspection; a reply (its parts joined) is
queued for the client it belongs to.  Settling moves a row out of the
pending state and queues in one transaction, so a crash between the two can
neither lose nor double a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, Protocol


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


class Taken(NamedTuple):
    """Why a recipient of a retry is not sent again."""

    phone: str
    accepted: bool  # False: unresolved (in flight or ambiguous at some vendor)


class SendSettlement(NamedTuple):
    """An attempt's outcome for the records ``first_key`` .. ``first_key + size - 1``."""

    first_key: int
    size: int
    outcome: str  # RecordState: ACCEPTED, AMBIGUOUS or NOT_SENT
    vendor_code: str
    message_ids: tuple[str | None, ...] | None = None  # per record, when the answer gave ids


class ClaimWindow(NamedTuple):
    now_ms: int
    window_ms: int  # routing.dedup_window_s
    unresolved_ms: int  # routing.unresolved_expire_s, at most the window
    resend_unresolved: frozenset[str] = frozenset()  # rules with ambiguous = "at_least_once"
    # A claim that never reached a vendor and is older than this was left by
    # a daemon that died before sending: free.  A live send ends sooner.
    stale_claim_ms: int = 60_000


QueueKind = Literal["reports", "replies"]


class HoldReceipt(NamedTuple):
    keys: tuple[int, ...]
    # When the hold runs out; a later hold of the same item runs out later,
    # so this also tells the holds of one item apart.
    until_ms: int


@dataclass(frozen=True, slots=True)
class QueuedReport:
    phone: str
    status: int  # esms100 value: 0 unknown, 1 delivered, 2 failed
    sent_at: datetime  # aware; shown to the client in legacy.timezone


@dataclass(frozen=True, slots=True)
class QueuedReply:
    phone: str
    text: str
    received_at: datetime  # aware; shown to the client in legacy.timezone


@dataclass(frozen=True, slots=True)
class InboxReport:
    """A delivery report as a vendor account handed it over, before correlation."""

    account: str  # the vendor account it came from (see proxy.ingest.accounts)
    key: str  # unique per account: the same key twice is the same report
    phone: str
    status: int  # esms100 value
    raw_status: str  # the vendor's own status, kept for inspection
    message_id: str | None
    reported_ms: int | None  # the time the vendor gave, if any
    received_ms: int
    id: int = 0  # the store's, once stored


@dataclass(frozen=True, slots=True)
class InboxReply:
    """A reply (or one part of a long one) as a vendor account handed it over."""

    account: str
    key: str
    phone: str
    text: str
    sent_ms: int | None  # when the person sent it, if the vendor says
    dest: str
    part_ref: str | None
    part_total: int | None
    part_index: int | None
    received_ms: int
    id: int = 0


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
    """Which send records a report may belong to: see :meth:`Store.send_candidates_many`."""

    vendors: tuple[str, ...]
    phone: str
    message_id: str | None


@dataclass(frozen=True, slots=True)
class ReportMatched:
    inbox_id: int
    record_key: int
    cpid: str
    report: QueuedReport


@dataclass(frozen=True, slots=True)
class ReportRetry:
    inbox_id: int
    next_try_ms: int


@dataclass(frozen=True, slots=True)
class ReportUnmatched:
    inbox_id: int


ReportSettlement = ReportMatched | ReportRetry | ReportUnmatched


@dataclass(frozen=True, slots=True)
class ReplyDelivered:
    inbox_ids: tuple[int, ...]  # every part of the reply
    cpid: str
    reply: QueuedReply


@dataclass(frozen=True, slots=True)
class ReplyUnmatched:
    inbox_ids: tuple[int, ...]


ReplySettlement = ReplyDelivered | ReplyUnmatched


@dataclass(frozen=True, slots=True)
class Settled:
    queued: int = 0  # reports or replies put on a client's queue
    duplicates: int = 0  # reports whose record already had this status
    retried: int = 0
    unmatched: int = 0
    skipped: int = 0  # rows no longer pending (another matcher settled them)


class LoginLimits(NamedTuple):
    """``[login]`` in the units a counter works in."""

    window_ms: int  # failures are counted over this, from the first
    lockout_ms: int
    max_per_address: int
    max_per_client: int


class LoginCount(NamedTuple):
    """What one failed login did to its address's and its cpid's counts."""

    address_locked_ms: int  # the address's lock-out has this long to run; 0: none
    client_locked_ms: int
    address_locked_at: int  # the failures that locked the address out just now; 0: none
    client_locked_at: int


class LoginLocks(NamedTuple):
    address_ms: int  # the address's lock-out has this long to run; 0: none
    client_ms: int  # the cpid's
    known: bool  # the address logged in to the cpid lately (any daemon)


class LoginCounter(Protocol):
    """Failed logins counted where every daemon sharing a store sees them."""

    async def count_failure(self, cpid: str, address: str, limits: LoginLimits) -> LoginCount:
        """Count one failed login against the address and the cpid, locking either
        out once it reaches its limit (a key already locked out counts no more)."""
        ...

    async def locks(self, cpid: str, address: str, known_since_ms: int) -> LoginLocks:
        """The lock-outs the address and the cpid are under, and whether the address
        logged in to the cpid since ``known_since_ms``."""
        ...

    async def remember(self, logins: Sequence[tuple[str, str]], now_ms: int, keep_ms: int) -> None:
        """These (cpid, address) logged in at ``now_ms``; forget them after ``keep_ms``."""
        ...


class Store(Protocol):
    async def ping(self) -> bool: ...

    async def close(self) -> None: ...

    async def record_sends(
        self, records: Sequence[SendRecord], settlements: Sequence[SendSettlement] = ()
    ) -> int:
        """Insert ``records`` and apply ``settlements`` in one write.

        Returns the key of the first record: the records get consecutive keys,
        in order, which is what a :class:`SendSettlement` names.  A settlement
        only changes records still ``in_flight`` (a delivery report may have
        resolved one first).
        """
        ...

    async def claim_recipients(
        self,
        cpid: str,
        text_digest: str,
        send_id: str,
        phones: Sequence[str],
        claim: ClaimWindow,
    ) -> list[Taken]:
        """Which of ``phones`` this client already sent this text to, within the window.

        A recipient is taken when a record of it is accepted, or unresolved
        and younger than ``claim.unresolved_ms`` (unless the phone is in
        ``claim.resend_unresolved``).  The others are claimed for ``send_id``
        until it settles them: a store shared by several daemons makes a
        retry that reaches another daemon meanwhile see them as unresolved.
        (SQLite serves one daemon, whose :class:`~proxy.retries.SendLocks`
        already keep a retry waiting, and claims nothing.)
        """
        ...

    async def release_claims(
        self, cpid: str, text_digest: str, send_id: str, phones: Sequence[str]
    ) -> None:
        """Give up the claims of ``send_id`` on recipients it did not get to a vendor."""
        ...

    async def unresolved(self, since_ms: int, limit: int) -> tuple[int, list[SendRecord]]:
        """Records unresolved since ``since_ms``: how many, and the newest ``limit``."""
        ...

    async def recent_texts(self, since_ms: int) -> list[tuple[str, str]] | None:
        """Every (cpid, text digest) sent since ``since_ms``, or None when other daemons
        share this store (then only :meth:`recent_recipients` can tell)."""
        ...

    async def password_digest(self, cpid: str) -> str | None:
        """The password set through /ent/, overriding the configured one: as
        :mod:`proxy.passwords` keeps it (salted; the cppwd itself before that)."""
        ...

    async def set_password_digest(self, cpid: str, digest: str) -> None: ...

    async def replace_password_digest(self, cpid: str, old: str, new: str) -> bool:
        """Set ``new`` only while the stored password is still ``old``: True when it was."""
        ...

    async def drop_password_digest(self, cpid: str) -> bool:
        """Forget the /ent/ password, so the configured one works: True when there was one."""
        ...

    def login_counter(self) -> LoginCounter | None:
        """Where failed logins are counted for every daemon sharing this store; None
        when one daemon uses it (SQLite), which counts them in its own memory."""
        ...

    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        """Add to the client's usage unless that would pass ``limit``."""
        ...

    async def release_quota(self, cpid: str, segments: int) -> None: ...

    async def quota_used(self, cpid: str) -> int: ...

    async def take_reports(self, cpid: str, limit: int) -> list[QueuedReport]:
        """Remove and return the client's oldest reports: each is handed out once."""
        ...

    async def take_replies(self, cpid: str, limit: int) -> list[QueuedReply]: ...

    async def hold_reports(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReport]]:
        """The client's oldest reports, held for ``hold_ms``: a receipt and the reports.

        Held items are not handed out again until :meth:`settle_held` says
        they were not delivered, or the hold runs out (the daemon died
        before it could say): then they are first in line again.
        """
        ...

    async def hold_replies(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReply]]: ...

    async def settle_held(
        self, kind: QueueKind, cpid: str, receipt: HoldReceipt, delivered: bool
    ) -> None:
        """Delivered: forget the held items.  Not: back to the client's queue, in order.

        Only items this hold still has: one whose hold ran out and that was
        handed out again belongs to that hand-out.
        """
        ...

    async def enqueue_report(self, cpid: str, report: QueuedReport) -> None: ...

    async def enqueue_reply(self, cpid: str, reply: QueuedReply) -> None: ...

    async def add_reports(self, reports: Sequence[InboxReport]) -> int:
        """Put reports in the inbox, all or none; a known ``(account, key)`` is dropped.

        Returns how many were new.
        """
        ...

    async def add_replies(self, replies: Sequence[InboxReply]) -> int: ...

    async def pending_reports(self, now_ms: int, limit: int) -> list[InboxReport]:
        """Inbox reports to settle now (not settled, retry time reached): the
        earliest due first, then the oldest (a retried row after those that
        came later but were due first)."""
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

    async def settle_reports(self, settlements: Sequence[ReportSettlement]) -> Settled:
        """Settle inbox reports in one transaction.

        A match queues the report for the client unless the record already
        has a report of that status (then the row is a duplicate).  Rows no
        longer pending are skipped, so settling twice queues once.
        """
        ...

    async def pending_replies(self, limit: int) -> list[InboxReply]: ...

    async def last_sender(self, phone: str, vendors: Sequence[str] | None) -> str | None:
        """The client that last sent to ``phone`` (through ``vendors``, if given)."""
        ...

    async def settle_replies(self, settlements: Sequence[ReplySettlement]) -> Settled:
        """Settle inbox replies in one transaction; a reply whose parts are not
        all still pending is skipped whole."""
        ...

    async def unmatched_reports(self, limit: int) -> list[InboxReport]:
        """The newest reports kept as unmatched, for inspection."""
        ...

    async def queue_stats(self) -> dict[str, tuple[int, float]]:
        """Per queue ("reports", "replies"): items waiting for their clients, and the
        age in seconds of the oldest, counted from its message's time."""
        ...

    async def inbox_counts(self) -> dict[str, int]:
        """Inbox rows by kind and state, e.g. ``{"reports.unmatched": 2}``."""
        ...

    async def purge(self, before_ms: int) -> int:
        """Forget send records, settled inbox rows and queued reports and
        replies older than ``before_ms``; returns the rows removed."""
        ...

    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Hold the lease ``name`` for ``ttl_ms`` from now: True when it was free,
        had expired, or was already ``holder``'s (then it is renewed)."""
        ...
