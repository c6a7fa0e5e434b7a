"""The inbox's part of the store contract: reports and replies taken once."""

from __future__ import annotations

from dataclasses import replace

from proxy.store.base import Store
from proxy.store.redis.inbox import ADD_SLICE
from proxy.store.redis.store import RedisStore
from proxy.store.settlement import ReportRetry, ReportUnmatched
from tests.store.contract import T0, inbox_reply, inbox_report, script_calls


async def test_add_reports_drops_known_keys(store: Store) -> None:
    assert await store.inbox.add_reports([inbox_report("a"), inbox_report("b")]) == 2
    assert await store.inbox.add_reports([inbox_report("a"), inbox_report("c")]) == 1
    assert await store.inbox.add_reports([inbox_report("a", account="v2")]) == 1  # per account
    assert await store.inbox.add_reports([]) == 0
    pending = await store.inbox.pending_reports(T0, 10)
    assert [(r.account, r.key) for r in pending] == [
        ("v1", "a"),
        ("v1", "b"),
        ("v1", "c"),
        ("v2", "a"),
    ]
    assert pending[0] == replace(inbox_report("a"), id=pending[0].id)
    assert len({r.id for r in pending}) == 4 and all(r.id > 0 for r in pending)
    assert len(await store.inbox.pending_reports(T0, 2)) == 2
    assert await store.inbox.pending_reports(T0 - 1, 10) == []  # not received yet at that time


async def test_a_poll_of_thousands_is_stored_whole_and_known_keys_dropped(store: Store) -> None:
    # Redis stores it in slices (no one script holds the server long): the
    # ids still follow the list, and a key twice, in two slices, is one row.
    many = [inbox_report(f"k{i:05d}", phone=f"138{i:08d}") for i in range(2 * ADD_SLICE + 10)]
    calls = await script_calls(store)
    assert await store.inbox.add_reports([*many, inbox_report("k00003")]) == len(many)
    if isinstance(store, RedisStore):
        assert await script_calls(store) - calls == 3
    pending = await store.inbox.pending_reports(T0, 10_000)
    assert [r.key for r in pending] == [r.key for r in many]
    assert [r.id for r in pending] == sorted(r.id for r in pending)
    assert pending[-1] == replace(many[-1], id=pending[-1].id)
    assert await store.inbox.add_reports(many[ADD_SLICE - 5 :]) == 0
    assert (await store.inbox.inbox_counts())["reports.pending"] == len(many)


async def test_pending_reports_come_due_first_then_oldest(store: Store) -> None:
    await store.inbox.add_reports(
        [inbox_report("a"), inbox_report("b", received_ms=T0 + 10), inbox_report("c")]
    )
    a, c, b = await store.inbox.pending_reports(T0 + 10, 10)
    assert (a.key, c.key, b.key) == ("a", "c", "b")
    await store.settlement.settle_reports([ReportRetry(a.id, T0 + 20), ReportRetry(c.id, T0 + 5)])
    assert [r.key for r in await store.inbox.pending_reports(T0 + 30, 10)] == ["c", "b", "a"]
    assert [r.key for r in await store.inbox.pending_reports(T0 + 30, 2)] == ["c", "b"]


async def test_add_replies_drops_known_keys(store: Store) -> None:
    part = {"part_ref": "r1", "part_total": 2, "part_index": 1}
    assert await store.inbox.add_replies([inbox_reply("a"), inbox_reply("b", **part)]) == 2
    assert await store.inbox.add_replies([inbox_reply("a"), inbox_reply("a", account="v2")]) == 1
    got = await store.inbox.pending_replies(10)
    assert [(r.account, r.key) for r in got] == [("v1", "a"), ("v1", "b"), ("v2", "a")]
    assert got[1] == replace(inbox_reply("b", **part), id=got[1].id)


async def test_purge_forgets_settled_rows_but_not_pending_ones(store: Store) -> None:
    old, new = T0, T0 + 10_000
    await store.inbox.add_reports(
        [inbox_report("settled", received_ms=old), inbox_report("pending", received_ms=old)]
    )
    settled_row, _ = await store.inbox.pending_reports(new, 10)
    await store.settlement.settle_reports([ReportUnmatched(settled_row.id)])
    await store.inbox.add_replies([inbox_reply("r", received_ms=old)])

    assert await store.inbox.purge(old + 1) == 1  # the settled report
    assert [r.key for r in await store.inbox.pending_reports(new, 10)] == ["pending"]
    assert await store.inbox.unmatched_reports(10) == []
    assert [r.key for r in await store.inbox.pending_replies(10)] == ["r"]  # pending: kept
    assert await store.inbox.purge(old + 1) == 0
