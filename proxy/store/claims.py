"""Claims: which recipients of a retry were already sent, so none is sent twice.

A legacy client that hears nothing retries the same text to the same
numbers.  Before routing, a send asks which of its numbers this client sent
this text to within ``routing.dedup_window_s``; those are answered, not
sent again.  On SQLite the send log itself answers (one daemon, whose
:class:`~proxy.retries.SendLocks` keep a retry waiting while the first send
is out); on Redis each (client, text, number) is claimed in one script, so
a retry that reaches another daemon meanwhile finds it taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from proxy.store.quotas import QuotaAsk


class ClaimWindow(NamedTuple):
    now_ms: int
    window_ms: int  # routing.dedup_window_s
    unresolved_ms: int  # routing.unresolved_expire_s, at most the window
    resend_unresolved: frozenset[str] = frozenset()  # rules with ambiguous = "at_least_once"
    # A claim that never reached a vendor and is older than this was left by
    # a daemon that died before sending: free.  A live send ends sooner.
    stale_claim_ms: int = 60_000


class Taken(NamedTuple):
    """Why a recipient of a retry is not sent again."""

    phone: str
    accepted: bool  # False: unresolved (in flight or ambiguous at some vendor)


class RecipientClaims(Protocol):
    async def claim_recipients(
        self,
        cpid: str,
        text_digest: str,
        send_id: str,
        phones: Sequence[str],
        claim: ClaimWindow,
        quota: QuotaAsk | None = None,
    ) -> list[Taken]:
        """Which of ``phones`` this client already sent this text to, within the window.

        A recipient is taken when a record of it is accepted, or unresolved
        and younger than ``claim.unresolved_ms`` (unless the phone is in
        ``claim.resend_unresolved``).  The others are claimed for ``send_id``
        until it settles them: a store shared by several daemons makes a
        retry that reaches another daemon meanwhile see them as unresolved.
        (SQLite serves one daemon, whose :class:`~proxy.retries.SendLocks`
        already keep a retry waiting, and claims nothing.)

        With ``quota``, the recipients not taken are also reserved on the
        client's quota in the same step (on Redis, the same script: no round
        trip of its own, and exact for every daemon sharing the quota); when
        they would pass it, :class:`~proxy.store.quotas.QuotaExhausted` is
        raised and nothing is claimed or reserved.
        """
        ...

    async def release_claims(
        self, cpid: str, text_digest: str, send_id: str, phones: Sequence[str]
    ) -> None:
        """Give up the claims of ``send_id`` on recipients it did not get to a vendor."""
        ...

    async def recent_texts(self, since_ms: int) -> list[tuple[str, str]] | None:
        """Every (cpid, text digest) sent since ``since_ms``, or None when other daemons
        share this store (then only :meth:`claim_recipients` can tell)."""
        ...
