"""Settlement's part of the store contract: inbox rows to client queues, once."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from proxy.store.base import Store
from proxy.store.queues import QueuedReply, QueuedReport
from proxy.store.sends import RecordState
from proxy.store.settlement import (
    ReplyDelivered,
    ReplyUnmatched,
    ReportMatched,
    ReportRetry,
    ReportUnmatched,
    Settled,
)
from tests.store.contract import T0, at, candidates, inbox_reply, inbox_report, record, sent, taken


async def test_a_report_resolves_an_unresolved_record_to_accepted(store: Store) -> None:
    await sent(store, [record("13800138000", outcome=RecordState.AMBIGUOUS)])
    assert await taken(store, ["13800138000"], now=T0 + 1) == {"13800138000": "unresolved"}
    await store.inbox.add_reports([inbox_report("k1")])
    (row,) = await store.inbox.pending_reports(T0 + 10, 10)
    (candidate,) = await candidates(store, ["v1"], "13800138000", None)
    queued = QueuedReport("13800138000", 1, at(T0))
    await store.settlement.settle_reports([ReportMatched(row.id, candidate.key, "acme", queued)])
    assert await taken(store, ["13800138000"], now=T0 + 2) == {"13800138000": "accepted"}
    assert (await store.sends.unresolved(0, 10))[0] == 0


async def test_settling_a_match_queues_the_report_once(store: Store) -> None:
    await store.sends.record_sends([record("13800138000", message_id="m1")])
    [candidate] = await candidates(store, ["v1"], "13800138000", "m1")
    await store.inbox.add_reports(
        [inbox_report("a"), inbox_report("b"), inbox_report("c", status=2)]
    )
    a, b, c = await store.inbox.pending_reports(T0, 10)
    queued = QueuedReport("13800138000", 1, at(T0))
    match = ReportMatched(a.id, candidate.key, "acme", queued)
    settled = await store.settlement.settle_reports(
        [
            match,
            ReportMatched(b.id, candidate.key, "acme", queued),  # same record, same status
            ReportMatched(c.id, candidate.key, "acme", replace(queued, status=2)),
        ]
    )
    assert settled == Settled(queued=2, duplicates=1)
    assert await store.settlement.settle_reports([match]) == Settled(skipped=1)  # settled already
    assert await store.queues.take_reports("acme", 10) == [queued, replace(queued, status=2)]
    assert await store.inbox.pending_reports(T0 + 10**9, 10) == []
    [candidate] = await candidates(store, ["v1"], "13800138000", "m1")
    assert candidate.reported == frozenset({1, 2})
    assert await store.inbox.inbox_counts() == {"reports.matched": 2, "reports.duplicate": 1}


async def test_a_retried_report_waits_and_an_unmatched_one_is_kept(store: Store) -> None:
    await store.inbox.add_reports([inbox_report("a"), inbox_report("b", message_id="m9")])
    a, b = await store.inbox.pending_reports(T0, 10)
    settled = await store.settlement.settle_reports(
        [ReportRetry(a.id, T0 + 500), ReportUnmatched(b.id)]
    )
    assert settled == Settled(retried=1, unmatched=1)
    assert await store.inbox.pending_reports(T0 + 499, 10) == []
    assert [r.key for r in await store.inbox.pending_reports(T0 + 500, 10)] == ["a"]
    assert [(r.key, r.message_id) for r in await store.inbox.unmatched_reports(10)] == [("b", "m9")]
    assert await store.settlement.settle_reports([ReportRetry(b.id, T0)]) == Settled(skipped=1)
    assert await store.inbox.inbox_counts() == {"reports.pending": 1, "reports.unmatched": 1}
    assert await store.settlement.settle_reports([]) == Settled()


async def test_settling_replies(store: Store) -> None:
    await store.inbox.add_replies([inbox_reply("p1"), inbox_reply("p2"), inbox_reply("x")])
    p1, p2, x = await store.inbox.pending_replies(10)
    joined = QueuedReply("13800138000", "hi hi", at(T0))
    settled = await store.settlement.settle_replies(
        [ReplyDelivered((p1.id, p2.id), "acme", joined), ReplyUnmatched((x.id,))]
    )
    assert settled == Settled(queued=1, unmatched=1)
    assert await store.queues.take_replies("acme", 10) == [joined]
    assert await store.inbox.pending_replies(10) == []
    # Settled already, whole or in part: nothing happens.
    again = await store.settlement.settle_replies([ReplyDelivered((p2.id,), "acme", joined)])
    assert again == Settled(skipped=1)
    assert await store.queues.take_replies("acme", 10) == []
    assert await store.inbox.inbox_counts() == {"replies.delivered": 2, "replies.unmatched": 1}


async def test_a_reply_with_a_settled_part_is_skipped_whole(store: Store) -> None:
    await store.inbox.add_replies([inbox_reply("p1"), inbox_reply("p2")])
    p1, p2 = await store.inbox.pending_replies(10)
    await store.settlement.settle_replies([ReplyUnmatched((p1.id,))])
    reply = QueuedReply("13800138000", "hi", at(T0))
    whole = await store.settlement.settle_replies([ReplyDelivered((p1.id, p2.id), "acme", reply)])
    assert whole == Settled(skipped=1)
    assert [r.key for r in await store.inbox.pending_replies(10)] == ["p2"]


async def test_concurrent_adds_and_settlements_count_once(two: tuple[Store, Store]) -> None:
    a, b = two
    rows = [inbox_report(f"k{i}") for i in range(30)]
    assert sum(await asyncio.gather(a.inbox.add_reports(rows), b.inbox.add_reports(rows))) == 30
    await a.sends.record_sends([record("13800138000")])
    [candidate] = await candidates(a, ["v1"], "13800138000", None)
    pending = await b.inbox.pending_reports(T0, 100)
    assert len(pending) == 30
    queued = QueuedReport("13800138000", 1, at(T0))
    first = [ReportMatched(pending[0].id, candidate.key, "acme", queued)]
    results = await asyncio.gather(
        a.settlement.settle_reports(first), b.settlement.settle_reports(first)
    )
    assert sorted(r.queued for r in results) == [0, 1]
    assert sorted(r.skipped for r in results) == [0, 1]
    assert await b.queues.take_reports("acme", 10) == [queued]
