"""Quotas: the segments each client used, against its configured ``quota``.

A send reserves its segments before its first attempt and gives back what
no vendor accepted.  The reservation must be on disk no later than the
send's first in-flight record: a send answered ``0`` is counted after any
crash, and never twice.  SQLite (one daemon) holds the usage in memory and
writes it in the send log's next group commit, the one that carries the
send's records (:meth:`proxy.store.sends.SendLog.record_sends`), so a send
costs no statement of its own for its quota.  Redis (several daemons share
one quota) reserves atomically on the server, in the script that claims
the send's recipients when there is one
(:meth:`proxy.store.claims.RecipientClaims.claim_recipients`).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class QuotaAsk(NamedTuple):
    """What a send asks of its client's quota: ``segments`` a recipient, up to ``limit``."""

    segments: int
    limit: int


class QuotaExhausted(Exception):
    """The send's recipients would pass the client's quota: nothing was reserved or claimed."""


class Quotas(Protocol):
    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        """Add to the client's usage unless that would pass ``limit``."""
        ...

    async def release_quota(self, cpid: str, segments: int) -> None: ...

    async def quota_used(self, cpid: str) -> int: ...
