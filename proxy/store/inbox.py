"""The inbox: reports and replies as the vendors handed them over, before matching.

What a vendor hands over is first written here, durably and once: a row
whose ``(account, key)`` is already there is a duplicate and is dropped.
Only then is the vendor answered.  The matcher then settles the rows
(:mod:`proxy.store.settlement`); settled rows stay, for inspection, until
retention forgets them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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


class Inbox(Protocol):
    async def add_reports(self, reports: Sequence[InboxReport]) -> int:
        """Put reports in the inbox, all or none; a known ``(account, key)`` is dropped.

        Returns how many were new.  (Redis stores a long list in slices, each
        all or none, so that no one script holds the server long: a failure
        part-way leaves the first slices in, and storing the list again, as
        the poller and the poll spool do, completes it.)
        """
        ...

    async def add_replies(self, replies: Sequence[InboxReply]) -> int: ...

    async def pending_reports(self, now_ms: int, limit: int) -> list[InboxReport]:
        """Inbox reports to settle now (not settled, retry time reached): the
        earliest due first, then the oldest (a retried row after those that
        came later but were due first)."""
        ...

    async def pending_replies(self, limit: int) -> list[InboxReply]: ...

    async def unmatched_reports(self, limit: int) -> list[InboxReport]:
        """The newest reports kept as unmatched, for inspection."""
        ...

    async def inbox_counts(self) -> dict[str, int]:
        """Inbox rows by kind and state, e.g. ``{"reports.unmatched": 2}``."""
        ...

    async def purge(self, before_ms: int) -> int:
        """Forget settled rows received before ``before_ms`` (a re-push later than
        that is taken again); pending rows stay.  Returns how many."""
        ...
