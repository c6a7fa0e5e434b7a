"""The contract every store engine passes: one suite, parametrised over the engines.

Enrolling an engine is one line in :data:`ENGINES`: a function that opens
the engine's store on the state a test owns (:class:`State`: a directory
for SQLite, a key prefix of its own on the session's private redis-server
for Redis) and opens it again on the same state after :meth:`Store.close`,
which the durability tests do, or a second time beside the first, as a
second daemon would, which the concurrency tests do.  Every engine is
exercised for real: SQLite on a file, never in memory; Redis in a real
redis-server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.store.base import (
    CandidateQuery,
    ClaimWindow,
    InboxReply,
    InboxReport,
    QueuedReply,
    QueuedReport,
    RecordState,
    ReplyDelivered,
    ReplyUnmatched,
    ReportMatched,
    ReportRetry,
    ReportUnmatched,
    SendCandidate,
    SendRecord,
    SendSettlement,
    Settled,
    Store,
)
from proxy.store.redis import RedisStore
from proxy.store.sqlite import SqliteStore
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


@pytest.fixture(params=list(ENGINES))
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Awaitable[Store]]:
    engine = ENGINES[request.param]
    state = State(tmp_path, f"test-{uuid.uuid4().hex[:12]}:", request)

    async def open_() -> Store:
        return await engine(state)

    return open_


@pytest.fixture
async def store(opener: Callable[[], Awaitable[Store]]) -> AsyncIterator[Store]:
    s = await opener()
    yield s
    await s.close()


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


WINDOW_MS = 600_000
UNRESOLVED_MS = 60_000


async def sent(store: Store, records: list[SendRecord], *, now: int = T0) -> int:
    """Record sends as the send path does: claim the recipients, then write."""
    for r in records:
        window = ClaimWindow(now, WINDOW_MS, UNRESOLVED_MS)
        await store.claim_recipients(r.cpid, r.text_digest, r.send_id, [r.phone], window)
    return await store.record_sends(records)


async def candidates(
    store: Store, vendors: list[str], phone: str, message_id: str | None
) -> list[SendCandidate]:
    """One query's answer from the batch call, as one report's settlement asks."""
    (found,) = await store.send_candidates_many([CandidateQuery(tuple(vendors), phone, message_id)])
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
    found = await store.claim_recipients(cpid, digest, send_id, phones, window)
    return {t.phone: "accepted" if t.accepted else "unresolved" for t in found}


def inbox_report(key: str, phone: str = "13800138000", **kw: object) -> InboxReport:
    row = InboxReport("v1", key, phone, 1, "DELIVRD", None, None, T0)
    return replace(row, **kw)  # type: ignore[arg-type]


def inbox_reply(key: str, phone: str = "13800138000", **kw: object) -> InboxReply:
    row = InboxReply("v1", key, phone, "hi", None, "", None, None, None, T0)
    return replace(row, **kw)  # type: ignore[arg-type]


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# --- basics and what the legacy endpoints need -------------------------------------


async def test_ping(store: Store) -> None:
    assert await store.ping()


async def test_a_retry_finds_what_was_accepted(store: Store) -> None:
    await sent(store, [record("13800138000"), record("13900139000", send_id="s2")])
    assert await taken(store, ["13800138000", "13700137000"]) == {"13800138000": "accepted"}
    assert await taken(store, ["13800138000"], cpid="other") == {}
    assert await taken(store, ["13800138000"], digest="d2") == {}


async def test_the_dedup_window_forgets(store: Store) -> None:
    now = int(time.time() * 1000)
    window = ClaimWindow(now, 300, 300)
    await store.claim_recipients("acme", "d1", "s1", ["13800138000"], window)
    await store.record_sends([record("13800138000", created_ms=now)])
    await asyncio.sleep(0.4)  # the window is wall time, for Redis's expiry too
    later = ClaimWindow(int(time.time() * 1000), 300, 300)
    assert await store.claim_recipients("acme", "d1", "s2", ["13800138000"], later) == []


async def test_a_claim_in_flight_elsewhere_is_unresolved(store: Store) -> None:
    """Two daemons racing one retry: the second finds the first's recipients taken
    (on SQLite, one daemon's send locks do this; its store claims nothing)."""
    first = await taken(store, ["13800138000"], send_id="s1")
    assert first == {}
    second = await taken(store, ["13800138000"], send_id="s2")
    if isinstance(store, RedisStore):
        assert second == {"13800138000": "unresolved"}
        # Given up before any vendor had it: free again.
        await store.release_claims("acme", "d1", "s1", ["13800138000"])
        assert await taken(store, ["13800138000"], send_id="s3") == {}
        # A claim left by a daemon that died before any vendor had it goes stale.
        await taken(store, ["13900139000"], send_id="dead")
        stale = ClaimWindow(T0 + 61_000, WINDOW_MS, UNRESOLVED_MS, stale_claim_ms=60_000)
        found = await store.claim_recipients("acme", "d1", "s4", ["13900139000"], stale)
        assert found == []
    else:
        assert second == {}


async def test_in_flight_and_ambiguous_are_unresolved_until_they_expire(store: Store) -> None:
    await sent(
        store,
        [
            record("13800138000", outcome=RecordState.IN_FLIGHT),
            record("13800138001", outcome=RecordState.AMBIGUOUS),
            record("13800138002", outcome=RecordState.NOT_SENT),
        ],
    )
    await store.release_claims("acme", "d1", "send1", ["13800138002"])
    phones = ["13800138000", "13800138001", "13800138002"]
    both = {"13800138000": "unresolved", "13800138001": "unresolved"}
    assert await taken(store, phones, now=T0 + 1000) == both
    # A rule that resends after no clear answer takes them back.
    resend = frozenset({"13800138001"})
    assert await taken(store, phones, now=T0 + 1000, resend=resend) == {"13800138000": "unresolved"}
    # Past routing.unresolved_expire_s without a report: not sent, a retry sends.
    assert await taken(store, phones, now=T0 + UNRESOLVED_MS + 1) == {}


async def test_records_get_consecutive_keys_that_settlements_name(store: Store) -> None:
    phones = [f"1380013800{i}" for i in range(4)]
    first = await sent(
        store, [record(p, outcome=RecordState.IN_FLIGHT, send_id="s1") for p in phones[:2]]
    )
    second = await sent(
        store, [record(p, outcome=RecordState.IN_FLIGHT, send_id="s2") for p in phones[2:]]
    )
    assert second == first + 2
    await store.record_sends(
        [],
        [
            SendSettlement(first, 2, RecordState.ACCEPTED, "0", ("m0", None)),
            SendSettlement(second, 1, RecordState.NOT_SENT, "-10"),
            SendSettlement(second + 1, 1, RecordState.AMBIGUOUS, "timeout"),
        ],
    )
    await store.release_claims("acme", "d1", "s2", phones[2:3])
    assert await taken(store, phones, now=T0 + 1) == {
        phones[0]: "accepted",
        phones[1]: "accepted",
        phones[3]: "unresolved",
    }
    # The answer's id is kept: a report with it finds the record.
    (found,) = await candidates(store, ["v1"], phones[0], "m0")
    assert found.message_id == "m0"
    # A settlement changes only records still in flight.
    await store.record_sends([], [SendSettlement(first, 2, RecordState.NOT_SENT, "x")])
    assert (await taken(store, phones[:1], now=T0 + 1)) == {phones[0]: "accepted"}
    count, listed = await store.unresolved(T0 - 1, 10)
    assert count == 1
    assert [(r.phone, r.outcome) for r in listed] == [(phones[3], RecordState.AMBIGUOUS)]


async def test_a_failover_written_with_the_next_vendors_attempt_stays_unresolved(
    store: Store,
) -> None:
    """Vendor A refused, vendor B has the request out: one write carries A's
    settlement and B's in-flight record, and a retry must see B's."""
    window = ClaimWindow(T0, WINDOW_MS, UNRESOLVED_MS)
    await store.claim_recipients("acme", "d1", "send1", ["13800138000"], window)
    at_a = await store.record_sends([record("13800138000", outcome=RecordState.IN_FLIGHT)])
    await store.record_sends(
        [record("13800138000", vendor="v2", outcome=RecordState.IN_FLIGHT)],
        [SendSettlement(at_a, 1, RecordState.NOT_SENT, "busy")],
    )
    # A send cancelled now (shutdown) gives up only what never reached a vendor.
    await store.release_claims("acme", "d1", "send1", ["13800138000"])
    assert await taken(store, ["13800138000"], now=T0 + 1) == {"13800138000": "unresolved"}


async def test_a_report_resolves_an_unresolved_record_to_accepted(store: Store) -> None:
    await sent(store, [record("13800138000", outcome=RecordState.AMBIGUOUS)])
    assert await taken(store, ["13800138000"], now=T0 + 1) == {"13800138000": "unresolved"}
    await store.add_reports([inbox_report("k1")])
    (row,) = await store.pending_reports(T0 + 10, 10)
    (candidate,) = await candidates(store, ["v1"], "13800138000", None)
    queued = QueuedReport("13800138000", 1, at(T0))
    await store.settle_reports([ReportMatched(row.id, candidate.key, "acme", queued)])
    assert await taken(store, ["13800138000"], now=T0 + 2) == {"13800138000": "accepted"}
    assert (await store.unresolved(0, 10))[0] == 0


async def test_password_digest(store: Store) -> None:
    assert await store.password_digest("acme") is None
    await store.set_password_digest("acme", "A" * 32)
    await store.set_password_digest("acme", "B" * 32)
    assert await store.password_digest("acme") == "B" * 32


async def test_a_password_is_replaced_only_while_unchanged_and_dropped(store: Store) -> None:
    salted = "sha256$" + "1" * 32 + "$" + "2" * 64
    assert not await store.replace_password_digest("acme", "A" * 32, salted)
    assert await store.password_digest("acme") is None
    assert not await store.drop_password_digest("acme")
    await store.set_password_digest("acme", "A" * 32)
    await store.set_password_digest("other", "A" * 32)
    assert not await store.replace_password_digest("acme", "B" * 32, salted)  # changed meanwhile
    assert await store.password_digest("acme") == "A" * 32
    assert await store.replace_password_digest("acme", "A" * 32, salted)
    assert await store.password_digest("acme") == salted
    assert await store.drop_password_digest("acme")
    assert await store.password_digest("acme") is None
    assert await store.password_digest("other") == "A" * 32


async def test_quota(store: Store) -> None:
    assert await store.reserve_quota("acme", 3, 5)
    assert not await store.reserve_quota("acme", 3, 5)
    assert await store.quota_used("acme") == 3
    await store.release_quota("acme", 10)
    assert await store.quota_used("acme") == 0


async def test_queues_hand_out_once_in_order_per_client(store: Store) -> None:
    for i in range(3):
        await store.enqueue_report("acme", QueuedReport(f"1380013800{i}", 1, at(T0)))
        await store.enqueue_reply("acme", QueuedReply(f"1380013800{i}", f"r{i}", at(T0)))
    await store.enqueue_report("globex", QueuedReport("13700137000", 2, at(T0)))
    taken = await store.take_reports("acme", 2)
    assert [r.phone for r in taken] == ["13800138000", "13800138001"]
    assert taken[0] == QueuedReport("13800138000", 1, at(T0))
    assert [r.phone for r in await store.take_reports("acme", 10)] == ["13800138002"]
    assert await store.take_reports("acme", 10) == []
    assert [r.text for r in await store.take_replies("acme", 10)] == ["r0", "r1", "r2"]
    assert await store.take_replies("acme", 10) == []
    assert [r.status for r in await store.take_reports("globex", 10)] == [2]


async def test_held_items_go_back_in_order_when_not_delivered(store: Store) -> None:
    for i in range(4):
        await store.enqueue_report("acme", QueuedReport(f"1380013800{i}", 1, at(T0)))
        await store.enqueue_reply("acme", QueuedReply(f"1380013800{i}", f"r{i}", at(T0)))
    receipt, held = await store.hold_reports("acme", 2, 60_000)
    assert [r.phone for r in held] == ["13800138000", "13800138001"]
    # Held: not handed out again meanwhile.
    assert [r.phone for r in (await store.hold_reports("acme", 10, 60_000))[1]] == [
        "13800138002",
        "13800138003",
    ]
    await store.settle_held("reports", "acme", receipt, False)  # the client had hung up
    assert [r.phone for r in await store.take_reports("acme", 10)] == [
        "13800138000",
        "13800138001",
    ]
    reply_receipt, replies = await store.hold_replies("acme", 3, 60_000)
    assert [r.text for r in replies] == ["r0", "r1", "r2"]
    await store.settle_held("replies", "acme", reply_receipt, True)  # written: gone
    assert [r.text for r in await store.take_replies("acme", 10)] == ["r3"]


async def test_a_hold_that_runs_out_is_handed_out_again(store: Store) -> None:
    """The daemon that held them died before it could say whether they were delivered."""
    await store.enqueue_report("acme", QueuedReport("13800138000", 1, at(T0)))
    first, _ = await store.hold_reports("acme", 10, 100)
    assert (await store.hold_reports("acme", 10, 100))[1] == []
    await asyncio.sleep(0.15)
    again, reports = await store.hold_reports("acme", 10, 60_000)
    assert [r.phone for r in reports] == ["13800138000"]
    # The first holder's late word no longer counts: the item is the new hand-out's.
    await store.settle_held("reports", "acme", first, True)
    await store.settle_held("reports", "acme", again, False)
    assert [r.phone for r in await store.take_reports("acme", 10)] == ["13800138000"]


async def test_recent_texts_are_known_or_left_to_claim_recipients(store: Store) -> None:
    await sent(
        store,
        [
            record("13800138000", digest="d1"),
            record("13800138001", digest="d1"),
            record("13800138000", cpid="globex", digest="d2"),
        ],
    )
    texts = await store.recent_texts(0)
    # A shared store says None: only claim_recipients can tell, every time.
    assert texts is None or sorted(texts) == [("acme", "d1"), ("globex", "d2")]
    assert await taken(store, ["13800138001", "13900000000"]) == {"13800138001": "accepted"}


async def test_queue_stats_count_what_waits_and_how_old_the_oldest_is(store: Store) -> None:
    assert await store.queue_stats() == {"reports": (0, 0.0), "replies": (0, 0.0)}
    now = datetime.now(UTC)
    old = datetime.fromtimestamp(now.timestamp() - 120, UTC)
    await store.enqueue_report("acme", QueuedReport("13800138000", 1, old))
    await store.enqueue_report("globex", QueuedReport("13800138001", 1, now))
    await store.enqueue_reply("acme", QueuedReply("13800138000", "hi", now))
    stats = await store.queue_stats()
    depth, age = stats["reports"]
    assert depth == 2 and 119 <= age <= 130
    assert stats["replies"][0] == 1 and stats["replies"][1] < 10
    await store.take_reports("acme", 10)
    assert (await store.queue_stats())["reports"][0] == 1


# --- the report inbox ---------------------------------------------------------------


async def test_add_reports_drops_known_keys(store: Store) -> None:
    assert await store.add_reports([inbox_report("a"), inbox_report("b")]) == 2
    assert await store.add_reports([inbox_report("a"), inbox_report("c")]) == 1
    assert await store.add_reports([inbox_report("a", account="v2")]) == 1  # per account
    assert await store.add_reports([]) == 0
    pending = await store.pending_reports(T0, 10)
    assert [(r.account, r.key) for r in pending] == [
        ("v1", "a"),
        ("v1", "b"),
        ("v1", "c"),
        ("v2", "a"),
    ]
    assert pending[0] == replace(inbox_report("a"), id=pending[0].id)
    assert len({r.id for r in pending}) == 4 and all(r.id > 0 for r in pending)
    assert len(await store.pending_reports(T0, 2)) == 2
    assert await store.pending_reports(T0 - 1, 10) == []  # not received yet at that time


async def test_send_candidates(store: Store) -> None:
    await store.record_sends(
        [
            record("13800138000", message_id="m1", created_ms=T0),
            record("13800138000", message_id=None, created_ms=T0 + 1),  # ambiguous
            record("13800138000", message_id="m2", created_ms=T0 + 2),
            record("13800138000", vendor="v2", message_id="m1", created_ms=T0 + 3),
            record("13900139000", message_id="m1", created_ms=T0 + 4),
        ]
    )
    got = await candidates(store, ["v1"], "13800138000", "m1")
    assert [(c.message_id, c.created_ms) for c in got] == [(None, T0 + 1), ("m1", T0)]
    assert got[1].cpid == "acme" and got[1].vendor == "v1" and got[1].reported == frozenset()
    everything = await candidates(store, ["v1", "v2"], "13800138000", None)
    assert [c.created_ms for c in everything] == [T0 + 3, T0 + 2, T0 + 1, T0]
    assert await candidates(store, [], "13800138000", None) == []
    assert await candidates(store, ["v9"], "13800138000", "m1") == []


async def test_send_candidates_many_answers_each_query_in_order(store: Store) -> None:
    first = await store.record_sends(
        [
            record("13800138000", message_id="m1", created_ms=T0),
            record("13800138000", outcome=RecordState.AMBIGUOUS, created_ms=T0 + 1),
            record("13800138000", outcome=RecordState.NOT_SENT, created_ms=T0 + 2),
            record("13800138000", vendor="v2", message_id="m1", created_ms=T0 + 3),
            record("13900139000", outcome=RecordState.IN_FLIGHT, created_ms=T0 + 4),
            record("13700137000", message_id="", created_ms=T0 + 5),
        ]
    )
    await store.add_reports([inbox_report("a", status=2)])
    (row,) = await store.pending_reports(T0, 10)
    queued = QueuedReport("13800138000", 2, at(T0))
    await store.settle_reports([ReportMatched(row.id, first, "acme", queued)])
    queries = [
        CandidateQuery(("v1",), "13800138000", "m1"),
        CandidateQuery(("v1", "v2"), "13800138000", None),
        CandidateQuery(("v1",), "13900139000", None),
        CandidateQuery((), "13800138000", None),
        CandidateQuery(("v9",), "13800138000", None),
        CandidateQuery(("v1",), "13800138000", "m1"),  # asked twice in one batch
        CandidateQuery(("v1",), "13700137000", None),
    ]
    got = await store.send_candidates_many(queries)
    keys = [[c.key - first for c in found] for found in got]
    # Not sent is never a candidate; in flight and ambiguous are; newest first.
    assert keys == [[1, 0], [3, 1, 0], [4], [], [], [1, 0], [5]]
    assert got[0][1].reported == frozenset({2}) and got[5][1].reported == frozenset({2})
    assert got[0][0].message_id is None and got[1][0].message_id == "m1"
    assert got[6][0].message_id == ""  # an empty id is still an id, not none
    assert (got[2][0].cpid, got[2][0].vendor, got[2][0].created_ms) == ("acme", "v1", T0 + 4)
    # Each answer is what the one-query call gives.
    for q, found in zip(queries, got, strict=True):
        assert await candidates(store, q.vendors, q.phone, q.message_id) == found
    assert await store.send_candidates_many([]) == []


async def test_send_candidates_many_keeps_the_newest_100_of_each_query(store: Store) -> None:
    await store.record_sends(
        [record("13800138000", created_ms=T0 + i) for i in range(105)]
        + [record("13900139000", created_ms=T0 + i) for i in range(60)]
    )
    many, few = await store.send_candidates_many(
        [CandidateQuery(("v1",), "13800138000", None), CandidateQuery(("v1",), "13900139000", None)]
    )
    assert [c.created_ms for c in many] == [T0 + i for i in range(104, 4, -1)]
    assert len(few) == 60


async def test_pending_reports_come_due_first_then_oldest(store: Store) -> None:
    await store.add_reports(
        [inbox_report("a"), inbox_report("b", received_ms=T0 + 10), inbox_report("c")]
    )
    a, c, b = await store.pending_reports(T0 + 10, 10)
    assert (a.key, c.key, b.key) == ("a", "c", "b")
    await store.settle_reports([ReportRetry(a.id, T0 + 20), ReportRetry(c.id, T0 + 5)])
    assert [r.key for r in await store.pending_reports(T0 + 30, 10)] == ["c", "b", "a"]
    assert [r.key for r in await store.pending_reports(T0 + 30, 2)] == ["c", "b"]


async def test_settling_a_match_queues_the_report_once(store: Store) -> None:
    await store.record_sends([record("13800138000", message_id="m1")])
    [candidate] = await candidates(store, ["v1"], "13800138000", "m1")
    await store.add_reports([inbox_report("a"), inbox_report("b"), inbox_report("c", status=2)])
    a, b, c = await store.pending_reports(T0, 10)
    queued = QueuedReport("13800138000", 1, at(T0))
    match = ReportMatched(a.id, candidate.key, "acme", queued)
    settled = await store.settle_reports(
        [
            match,
            ReportMatched(b.id, candidate.key, "acme", queued),  # same record, same status
            ReportMatched(c.id, candidate.key, "acme", replace(queued, status=2)),
        ]
    )
    assert settled == Settled(queued=2, duplicates=1)
    assert await store.settle_reports([match]) == Settled(skipped=1)  # settled already
    assert await store.take_reports("acme", 10) == [queued, replace(queued, status=2)]
    assert await store.pending_reports(T0 + 10**9, 10) == []
    [candidate] = await candidates(store, ["v1"], "13800138000", "m1")
    assert candidate.reported == frozenset({1, 2})
    assert await store.inbox_counts() == {"reports.matched": 2, "reports.duplicate": 1}


async def test_a_retried_report_waits_and_an_unmatched_one_is_kept(store: Store) -> None:
    await store.add_reports([inbox_report("a"), inbox_report("b", message_id="m9")])
    a, b = await store.pending_reports(T0, 10)
    settled = await store.settle_reports([ReportRetry(a.id, T0 + 500), ReportUnmatched(b.id)])
    assert settled == Settled(retried=1, unmatched=1)
    assert await store.pending_reports(T0 + 499, 10) == []
    assert [r.key for r in await store.pending_reports(T0 + 500, 10)] == ["a"]
    assert [(r.key, r.message_id) for r in await store.unmatched_reports(10)] == [("b", "m9")]
    assert await store.settle_reports([ReportRetry(b.id, T0)]) == Settled(skipped=1)
    assert await store.inbox_counts() == {"reports.pending": 1, "reports.unmatched": 1}
    assert await store.settle_reports([]) == Settled()


# --- the reply inbox ----------------------------------------------------------------


async def test_add_replies_drops_known_keys(store: Store) -> None:
    part = {"part_ref": "r1", "part_total": 2, "part_index": 1}
    assert await store.add_replies([inbox_reply("a"), inbox_reply("b", **part)]) == 2
    assert await store.add_replies([inbox_reply("a"), inbox_reply("a", account="v2")]) == 1
    got = await store.pending_replies(10)
    assert [(r.account, r.key) for r in got] == [("v1", "a"), ("v1", "b"), ("v2", "a")]
    assert got[1] == replace(inbox_reply("b", **part), id=got[1].id)


async def test_last_sender(store: Store) -> None:
    assert await store.last_sender("13800138000", None) is None
    await store.record_sends(
        [
            record("13800138000", cpid="acme", vendor="v1", created_ms=T0),
            record("13800138000", cpid="globex", vendor="v2", created_ms=T0 + 1),
        ]
    )
    assert await store.last_sender("13800138000", None) == "globex"
    assert await store.last_sender("13800138000", ["v1"]) == "acme"
    assert await store.last_sender("13800138000", ["v3"]) is None
    assert await store.last_sender("13800138000", []) is None


async def test_settling_replies(store: Store) -> None:
    await store.add_replies([inbox_reply("p1"), inbox_reply("p2"), inbox_reply("x")])
    p1, p2, x = await store.pending_replies(10)
    joined = QueuedReply("13800138000", "hi hi", at(T0))
    settled = await store.settle_replies(
        [ReplyDelivered((p1.id, p2.id), "acme", joined), ReplyUnmatched((x.id,))]
    )
    assert settled == Settled(queued=1, unmatched=1)
    assert await store.take_replies("acme", 10) == [joined]
    assert await store.pending_replies(10) == []
    # Settled already, whole or in part: nothing happens.
    again = await store.settle_replies([ReplyDelivered((p2.id,), "acme", joined)])
    assert again == Settled(skipped=1)
    assert await store.take_replies("acme", 10) == []
    assert await store.inbox_counts() == {"replies.delivered": 2, "replies.unmatched": 1}


async def test_a_reply_with_a_settled_part_is_skipped_whole(store: Store) -> None:
    await store.add_replies([inbox_reply("p1"), inbox_reply("p2")])
    p1, p2 = await store.pending_replies(10)
    await store.settle_replies([ReplyUnmatched((p1.id,))])
    reply = QueuedReply("13800138000", "hi", at(T0))
    assert await store.settle_replies([ReplyDelivered((p1.id, p2.id), "acme", reply)]) == Settled(
        skipped=1
    )
    assert [r.key for r in await store.pending_replies(10)] == ["p2"]


# --- retention and durability ---------------------------------------------------------


async def test_purge_forgets_what_is_old_but_not_what_is_pending(store: Store) -> None:
    old, new = T0, T0 + 10_000
    await store.record_sends(
        [record("13800138000", created_ms=old), record("13900139000", created_ms=new)]
    )
    await store.add_reports(
        [inbox_report("settled", received_ms=old), inbox_report("pending", received_ms=old)]
    )
    settled_row, _ = await store.pending_reports(new, 10)
    await store.settle_reports([ReportUnmatched(settled_row.id)])
    await store.add_replies([inbox_reply("r", received_ms=old)])
    await store.enqueue_report("acme", QueuedReport("13800138000", 1, at(old)))
    await store.enqueue_report("acme", QueuedReport("13900139000", 1, at(new)))
    await store.enqueue_reply("acme", QueuedReply("13800138000", "old", at(old)))

    assert await store.purge(old + 1) == 4  # record, settled report, two queued
    (left,) = await candidates(store, ["v1"], "13900139000", None)
    assert left.created_ms == new
    assert await candidates(store, ["v1"], "13800138000", None) == []
    assert [r.key for r in await store.pending_reports(new, 10)] == ["pending"]
    assert await store.unmatched_reports(10) == []
    assert [r.key for r in await store.pending_replies(10)] == ["r"]  # pending: kept
    assert [r.phone for r in await store.take_reports("acme", 10)] == ["13900139000"]
    assert await store.take_replies("acme", 10) == []
    assert await store.purge(old + 1) == 0


async def test_everything_survives_a_reopen(opener: Callable[[], Awaitable[Store]]) -> None:
    first = await opener()
    await first.record_sends([record("13800138000", message_id="m1")])
    await first.add_reports([inbox_report("a", message_id="m1")])
    await first.add_replies([inbox_reply("r")])
    await first.enqueue_report("acme", QueuedReport("13800138000", 1, at(T0)))
    await first.close()
    second = await opener()
    try:
        assert await second.add_reports([inbox_report("a", message_id="m1")]) == 0
        assert [r.key for r in await second.pending_reports(T0, 10)] == ["a"]
        assert [r.key for r in await second.pending_replies(10)] == ["r"]
        assert len(await candidates(second, ["v1"], "13800138000", "m1")) == 1
        assert len(await second.take_reports("acme", 10)) == 1
    finally:
        await second.close()


# --- two daemons on one state -----------------------------------------------------------


@pytest.fixture
async def two(opener: Callable[[], Awaitable[Store]]) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one state, as two daemons sharing it have."""
    first = await opener()
    second = await opener()
    yield first, second
    await second.close()
    await first.close()


async def test_two_takers_hand_out_each_queued_report_once(two: tuple[Store, Store]) -> None:
    a, b = two
    phones = [f"138{i:08d}" for i in range(60)]
    for phone in phones:
        await a.enqueue_report("acme", QueuedReport(phone, 1, at(T0)))

    async def drain(store: Store) -> list[str]:
        got: list[str] = []
        while batch := await store.take_reports("acme", 4):
            got += [r.phone for r in batch]
        return got

    first, second = await asyncio.gather(drain(a), drain(b))
    assert sorted(first + second) == phones
    assert first == sorted(first) and second == sorted(second)  # each in order


async def test_concurrent_reservations_never_pass_the_quota(two: tuple[Store, Store]) -> None:
    a, b = two
    granted = await asyncio.gather(*(s.reserve_quota("acme", 3, 50) for s in (a, b) * 20))
    assert sum(granted) == 16
    assert await b.quota_used("acme") == 48


async def test_concurrent_adds_and_settlements_count_once(two: tuple[Store, Store]) -> None:
    a, b = two
    rows = [inbox_report(f"k{i}") for i in range(30)]
    assert sum(await asyncio.gather(a.add_reports(rows), b.add_reports(rows))) == 30
    await a.record_sends([record("13800138000")])
    [candidate] = await candidates(a, ["v1"], "13800138000", None)
    pending = await b.pending_reports(T0, 100)
    assert len(pending) == 30
    queued = QueuedReport("13800138000", 1, at(T0))
    first = [ReportMatched(pending[0].id, candidate.key, "acme", queued)]
    results = await asyncio.gather(a.settle_reports(first), b.settle_reports(first))
    assert sorted(r.queued for r in results) == [0, 1]
    assert sorted(r.skipped for r in results) == [0, 1]
    assert await b.take_reports("acme", 10) == [queued]


async def test_a_lease_has_one_holder_until_it_expires(two: tuple[Store, Store]) -> None:
    a, b = two
    ttl = 600  # ms; the waits below leave 300 ms either side of it
    assert await a.acquire_lease("poll:v1:reports", "daemon-a", ttl)
    assert not await b.acquire_lease("poll:v1:reports", "daemon-b", ttl)
    assert await b.acquire_lease("poll:v2:reports", "daemon-b", ttl)  # one per name
    assert await a.acquire_lease("poll:v1:reports", "daemon-a", ttl)  # renewed
    await asyncio.sleep(0.3)
    assert not await b.acquire_lease("poll:v1:reports", "daemon-b", ttl)
    await asyncio.sleep(0.4)  # past the renewed lease: the holder went away
    assert await b.acquire_lease("poll:v1:reports", "daemon-b", ttl)
    assert not await a.acquire_lease("poll:v1:reports", "daemon-a", ttl)
    pairs = ((a, "a"), (b, "b")) * 5
    held = await asyncio.gather(*(s.acquire_lease("x", name, 10_000) for s, name in pairs))
    assert held in ([True, False] * 5, [False, True] * 5)  # one holder, however they race
