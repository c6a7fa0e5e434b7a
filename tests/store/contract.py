"""What every role's part of the store contract shares: the engines and the rows.

The contract is one suite a role (``test_<role>.py`` here), each test run
against every engine in :data:`ENGINES`.  Enrolling an engine is one line:
a function that opens the engine's store on the state a test owns
(:class:`State`: a directory for SQLite, a key prefix of its own on the
session's private redis-server for Redis) and opens it again on the same
state after :meth:`Store.close`, which the durability tests do, or a second
time beside the first, as a second daemon would, which the concurrency
tests do.  Every engine is exercised for real: SQLite on a file, never in
memory; Redis in a real redis-server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.store.base import Store
from proxy.store.claims import ClaimWindow
from proxy.store.inbox import InboxReply, InboxReport
from proxy.store.redis.store import RedisStore
from proxy.store.sends import CandidateQuery, RecordState, SendCandidate, SendRecord
from proxy.store.sqlite.store import SqliteStore
from tests.redis_server import RedisServer


@dataclass(frozen=True)
class State:
    """The state one test owns, for every engine."""

    dir: Path
    prefix: str  # keys of this test's own on a shared server
    request: pytest.FixtureRequest

    @property
    def redis_url(self) -> str:
        # Asked for only by the Redis engine: the server starts when first needed.
        server: RedisServer = self.request.getfixturevalue("redis_server")
        return server.url


Opener = Callable[[State], Awaitable[Store]]

ENGINES: dict[str, Opener] = {
    "sqlite": lambda state: SqliteStore.open(state.dir / "state.sqlite3"),
    "redis": lambda state: RedisStore.open(state.redis_url, prefix=state.prefix),
}

T0 = 1_700_000_000_000  # ms
WINDOW_MS = 600_000
UNRESOLVED_MS = 60_000


def record(
    phone: str,
    *,
    vendor: str = "v1",
    cpid: str = "acme",
    message_id: str | None = None,
    created_ms: int = T0,
    digest: str = "d1",
    outcome: str = RecordState.ACCEPTED,
    send_id: str = "send1",
) -> SendRecord:
    return SendRecord(send_id, cpid, vendor, phone, outcome, "0", message_id, digest, 1, created_ms)


async def sent(store: Store, records: list[SendRecord], *, now: int = T0) -> int:
    """Record sends as the send path does: claim the recipients, then write."""
    for r in records:
        window = ClaimWindow(now, WINDOW_MS, UNRESOLVED_MS)
        await store.claims.claim_recipients(r.cpid, r.text_digest, r.send_id, [r.phone], window)
    return await store.sends.record_sends(records)


async def candidates(
    store: Store, vendors: list[str], phone: str, message_id: str | None
) -> list[SendCandidate]:
    """One query's answer from the batch call, as one report's settlement asks."""
    query = CandidateQuery(tuple(vendors), phone, message_id)
    (found,) = await store.sends.send_candidates_many([query])
    return found


async def taken(
    store: Store,
    phones: list[str],
    *,
    cpid: str = "acme",
    digest: str = "d1",
    send_id: str = "retry",
    now: int = T0,
    resend: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """What a retry finds: phone -> "accepted" or "unresolved"."""
    window = ClaimWindow(now, WINDOW_MS, UNRESOLVED_MS, resend)
    found = await store.claims.claim_recipients(cpid, digest, send_id, phones, window)
    return {t.phone: "accepted" if t.accepted else "unresolved" for t in found}


def inbox_report(key: str, phone: str = "13800138000", **kw: object) -> InboxReport:
    row = InboxReport("v1", key, phone, 1, "DELIVRD", None, None, T0)
    return replace(row, **kw)  # type: ignore[arg-type]


def inbox_reply(key: str, phone: str = "13800138000", **kw: object) -> InboxReply:
    row = InboxReply("v1", key, phone, "hi", None, "", None, None, None, T0)
    return replace(row, **kw)  # type: ignore[arg-type]


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def script_calls(store: Store) -> int:
    """Scripts the Redis server has run so far (0 on SQLite): its round trips."""
    if not isinstance(store, RedisStore):
        return 0
    stats = await store.keys.client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))
