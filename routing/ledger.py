"""Where an attempt's recipients are written down: before its chunk leaves, and after.

The router calls :meth:`AttemptLedger.before` once the request is built and
before a byte of it is sent, and sends nothing if that fails: a daemon
killed during the exchange then still knows the recipients may be at that
vendor.  :meth:`AttemptLedger.after` settles them with the attempt's outcome.
The process side (:mod:`proxy.ledger`) writes both to the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from core.outcome import Outcome


class AttemptLedger(Protocol):
    async def before(
        self, vendor: str, phones: tuple[str, ...], message_ids: Mapping[str, str]
    ) -> int:
        """Write the recipients down as in flight at ``vendor``; a key for :meth:`after`."""
        ...

    async def after(
        self,
        key: int,
        phones: tuple[str, ...],
        outcome: Outcome,
        raw_code: str,
        message_ids: Mapping[str, str],
    ) -> None: ...


class NoLedger:
    """For routing that keeps no books (``smsproxy route`` explains, sends nothing)."""

    async def before(
        self, vendor: str, phones: tuple[str, ...], message_ids: Mapping[str, str]
    ) -> int:
        return 0

    async def after(
        self,
        key: int,
        phones: tuple[str, ...],
        outcome: Outcome,
        raw_code: str,
        message_ids: Mapping[str, str],
    ) -> None:
        return None


NO_LEDGER: AttemptLedger = NoLedger()  # stateless: one serves every caller
