"""The state store: everything several daemons would have to share.

One narrow interface, two engines (SQLite here; Redis to scale out), one
contract test suite.  Every method is one atomic operation, so callers never
hold a transaction open across an ``await``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SendRecord:
    """One recipient of one send, as a vendor answered for it."""

    send_id: str
    cpid: str
    vendor: str
    phone: str
    outcome: str
    vendor_code: str
    message_id: str | None
    text_digest: str
    segments: int
    created_ms: int


@dataclass(frozen=True, slots=True)
class QueuedReport:
    phone: str
    status: int  # esms100 value: 0 unknown, 1 delivered, 2 failed
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class QueuedReply:
    phone: str
    text: str
    received_at: datetime


class Store(Protocol):
    async def ping(self) -> bool: ...

    async def close(self) -> None: ...

    async def record_sends(self, records: Sequence[SendRecord]) -> None:
        """Store many records in one write."""
        ...

    async def recent_recipients(
        self, cpid: str, text_digest: str, phones: Sequence[str], since_ms: int
    ) -> set[str]:
        """Which of ``phones`` this client already sent this text to since ``since_ms``.

        Counts accepted and ambiguous records: both may have reached the phone.
        """
        ...

    async def password_digest(self, cpid: str) -> str | None:
        """The cppwd set through /ent/, overriding the configured password."""
        ...

    async def set_password_digest(self, cpid: str, digest: str) -> None: ...

    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        """Add to the client's usage unless that would pass ``limit``."""
        ...

    async def release_quota(self, cpid: str, segments: int) -> None: ...

    async def quota_used(self, cpid: str) -> int: ...

    async def take_reports(self, cpid: str, limit: int) -> list[QueuedReport]:
        """Remove and return the client's oldest reports: each is handed out once."""
        ...

    async def take_replies(self, cpid: str, limit: int) -> list[QueuedReply]: ...

    async def enqueue_report(self, cpid: str, report: QueuedReport) -> None: ...

    async def enqueue_reply(self, cpid: str, reply: QueuedReply) -> None: ...
