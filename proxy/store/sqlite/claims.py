"""Claims in SQLite: the send log answers, and nothing is claimed.

One daemon uses a SQLite file, and its :class:`~proxy.retries.SendLocks`
keep a retry waiting while a send of the same text to the same number is
still out; so what a retry finds is what the send log says.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from proxy.store.claims import ClaimWindow, Taken
from proxy.store.quotas import QuotaAsk, QuotaExhausted
from proxy.store.sends import RecordState
from proxy.store.sqlite.phones import phone_of, stored_json
from proxy.store.sqlite.quotas import SqliteQuotas
from proxy.store.sqlite.writer import SqliteWriter


class SqliteClaims:
    def __init__(self, writer: SqliteWriter, quotas: SqliteQuotas) -> None:
        self._writer = writer
        self._quotas = quotas

    def __repr__(self) -> str:
        return f"<SqliteClaims {self._writer.path}>"

    async def claim_recipients(
        self,
        cpid: str,
        text_digest: str,
        send_id: str,
        phones: Sequence[str],
        claim: ClaimWindow,
        quota: QuotaAsk | None = None,
    ) -> list[Taken]:
        wanted = stored_json(phones)
        since = claim.now_ms - claim.window_ms
        unresolved_since = claim.now_ms - claim.unresolved_ms

        def read(db: sqlite3.Connection) -> list[Taken]:
            # One index probe per number of this send, however many others
            # the client sent the same text to, then a seek to its chunk.
            # (A join on json_each would make SQLite scan instead of probe.)
            rows = db.execute(
                "SELECT t.phone, c.outcome, c.created_ms FROM send_to AS t"
                " JOIN send_chunks AS c"
                " ON c.id = (SELECT max(id) FROM send_chunks WHERE id <= t.key)"
                " WHERE t.phone IN (SELECT value FROM json_each(?)) AND c.created_ms >= ?"
                " AND c.cpid = ? AND c.text_digest = ? AND c.outcome != 'not_sent'",
                (wanted, since, cpid, text_digest),
            )
            return _taken(rows, unresolved_since, claim.resend_unresolved)

        taken = await self._writer.run(read)
        if quota is not None:
            free = len(set(phones)) - len(taken)
            if free and not await self._quotas.reserve_quota(
                cpid, quota.segments * free, quota.limit
            ):
                raise QuotaExhausted(cpid)
        return taken

    async def release_claims(
        self, cpid: str, text_digest: str, send_id: str, phones: Sequence[str]
    ) -> None:
        return None  # one daemon: its send locks are the claims

    async def recent_texts(self, since_ms: int) -> list[tuple[str, str]] | None:
        def read(db: sqlite3.Connection) -> list[tuple[str, str]]:
            # Newest first by rowid, stopping at the window's start: only the
            # window's records are read, with no index on the time.
            found: set[tuple[str, str]] = set()
            rows = db.execute(
                "SELECT cpid, text_digest, created_ms FROM send_chunks ORDER BY id DESC"
            )
            for cpid, digest, created_ms in rows:
                if created_ms < since_ms:
                    break
                found.add((cpid, digest))
            return sorted(found)

        return await self._writer.run(read)


def _taken(
    rows: Iterable[tuple[int | str, str, int]], unresolved_since_ms: int, resend: frozenset[str]
) -> list[Taken]:
    accepted: dict[str, None] = {}
    unresolved: dict[str, None] = {}
    for number, outcome, created_ms in rows:
        phone = phone_of(number)
        if outcome == RecordState.ACCEPTED:
            accepted[phone] = None
        elif created_ms >= unresolved_since_ms and phone not in resend:
            unresolved[phone] = None
    return [Taken(p, True) for p in accepted] + [
        Taken(p, False) for p in unresolved if p not in accepted
    ]
