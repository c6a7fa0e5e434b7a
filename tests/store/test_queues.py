"""The client queues' part of the store contract: each item handed out once, in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from proxy.store.base import Store
from proxy.store.queues import QueuedReply, QueuedReport
from proxy.store.sqlite.store import SqliteStore
from tests.store.contract import T0, at


async def test_queues_hand_out_once_in_order_per_client(store: Store) -> None:
    for i in range(3):
        await store.queues.enqueue_report("acme", QueuedReport(f"1380013800{i}", 1, at(T0)))
        await store.queues.enqueue_reply("acme", QueuedReply(f"1380013800{i}", f"r{i}", at(T0)))
    await store.queues.enqueue_report("globex", QueuedReport("13700137000", 2, at(T0)))
    taken = await store.queues.take_reports("acme", 2)
    assert [r.phone for r in taken] == ["13800138000", "13800138001"]
    assert taken[0] == QueuedReport("13800138000", 1, at(T0))
    assert [r.phone for r in await store.queues.take_reports("acme", 10)] == ["13800138002"]
    assert await store.queues.take_reports("acme", 10) == []
    assert [r.text for r in await store.queues.take_replies("acme", 10)] == ["r0", "r1", "r2"]
    assert await store.queues.take_replies("acme", 10) == []
    assert [r.status for r in await store.queues.take_reports("globex", 10)] == [2]


async def test_held_items_go_back_in_order_when_not_delivered(store: Store) -> None:
    for i in range(4):
        await store.queues.enqueue_report("acme", QueuedReport(f"1380013800{i}", 1, at(T0)))
        await store.queues.enqueue_reply("acme", QueuedReply(f"1380013800{i}", f"r{i}", at(T0)))
    receipt, held = await store.queues.hold_reports("acme", 2, 60_000)
    assert [r.phone for r in held] == ["13800138000", "13800138001"]
    # Held: not handed out again meanwhile.
    assert [r.phone for r in (await store.queues.hold_reports("acme", 10, 60_000))[1]] == [
        "13800138002",
        "13800138003",
    ]
    await store.queues.settle_held("reports", "acme", receipt, False)  # the client had hung up
    assert [r.phone for r in await store.queues.take_reports("acme", 10)] == [
        "13800138000",
        "13800138001",
    ]
    reply_receipt, replies = await store.queues.hold_replies("acme", 3, 60_000)
    assert [r.text for r in replies] == ["r0", "r1", "r2"]
    await store.queues.settle_held("replies", "acme", reply_receipt, True)  # written: gone
    assert [r.text for r in await store.queues.take_replies("acme", 10)] == ["r3"]


async def test_a_hold_that_runs_out_is_handed_out_again(store: Store) -> None:
    """The daemon that held them died before it could say whether they were delivered."""
    await store.queues.enqueue_report("acme", QueuedReport("13800138000", 1, at(T0)))
    # Held for 0.5 s: still held at the next call even on a slow machine.
    first, _ = await store.queues.hold_reports("acme", 10, 500)
    assert (await store.queues.hold_reports("acme", 10, 100))[1] == []
    await asyncio.sleep(0.55)
    again, reports = await store.queues.hold_reports("acme", 10, 60_000)
    assert [r.phone for r in reports] == ["13800138000"]
    # The first holder's late word no longer counts: the item is the new hand-out's.
    await store.queues.settle_held("reports", "acme", first, True)
    await store.queues.settle_held("reports", "acme", again, False)
    assert [r.phone for r in await store.queues.take_reports("acme", 10)] == ["13800138000"]


async def test_queue_stats_count_what_waits_and_how_old_the_oldest_is(store: Store) -> None:
    assert await store.queues.queue_stats() == {"reports": (0, 0.0), "replies": (0, 0.0)}
    now = datetime.now(UTC)
    old = datetime.fromtimestamp(now.timestamp() - 120, UTC)
    await store.queues.enqueue_report("acme", QueuedReport("13800138000", 1, old))
    await store.queues.enqueue_report("globex", QueuedReport("13800138001", 1, now))
    await store.queues.enqueue_reply("acme", QueuedReply("13800138000", "hi", now))
    stats = await store.queues.queue_stats()
    depth, age = stats["reports"]
    assert depth == 2 and 119 <= age <= 130
    assert stats["replies"][0] == 1 and stats["replies"][1] < 10
    await store.queues.take_reports("acme", 10)
    assert (await store.queues.queue_stats())["reports"][0] == 1


async def test_two_takers_hand_out_each_queued_report_once(two: tuple[Store, Store]) -> None:
    a, b = two
    phones = [f"138{i:08d}" for i in range(60)]
    for phone in phones:
        await a.queues.enqueue_report("acme", QueuedReport(phone, 1, at(T0)))

    async def drain(store: Store) -> list[str]:
        got: list[str] = []
        while batch := await store.queues.take_reports("acme", 4):
            got += [r.phone for r in batch]
        return got

    first, second = await asyncio.gather(drain(a), drain(b))
    assert sorted(first + second) == phones
    assert first == sorted(first) and second == sorted(second)  # each in order


async def test_purge_forgets_what_clients_never_fetched(store: Store) -> None:
    old, new = T0, T0 + 10_000
    await store.queues.enqueue_report("acme", QueuedReport("13800138000", 1, at(old)))
    await store.queues.enqueue_report("acme", QueuedReport("13900139000", 1, at(new)))
    await store.queues.enqueue_reply("acme", QueuedReply("13800138000", "old", at(old)))

    assert await store.queues.purge(old + 1) == 2
    assert [r.phone for r in await store.queues.take_reports("acme", 10)] == ["13900139000"]
    assert await store.queues.take_replies("acme", 10) == []
    assert await store.queues.purge(old + 1) == 0


async def test_holds_found_at_a_daemons_start_are_released_where_it_is_alone(
    store: Store,
) -> None:
    """SQLite is one daemon's: a hold found at its start is a dead daemon's.
    On Redis a hold may be another daemon's answer being written: it stays."""
    for i in range(3):
        await store.queues.enqueue_report("acme", QueuedReport(f"1380013800{i}", 1, at(T0)))
    await store.queues.enqueue_reply("acme", QueuedReply("13800138000", "r0", at(T0)))
    await store.queues.hold_reports("acme", 2, 60_000)
    await store.queues.hold_replies("acme", 1, 60_000)
    alone = isinstance(store, SqliteStore)
    assert await store.queues.release_dead_holds() == (3 if alone else 0)
    reports = [r.phone for r in await store.queues.take_reports("acme", 10)]
    replies = [r.text for r in await store.queues.take_replies("acme", 10)]
    if alone:
        assert (reports, replies) == (["13800138000", "13800138001", "13800138002"], ["r0"])
    else:
        assert (reports, replies) == (["13800138002"], [])
    assert await store.queues.release_dead_holds() == 0


async def test_a_batch_handed_over_never_comes_back_by_itself(store: Store) -> None:
    """Handed over, its answer is being written: a daemon that dies now counts
    it delivered, so its hold no longer runs out.  A client that hung up
    before the write still gets it back."""
    for i in range(3):
        await store.queues.enqueue_report("acme", QueuedReport(f"1380013800{i}", 1, at(T0)))
    held, _ = await store.queues.hold_reports("acme", 2, 500)
    handed = await store.queues.hand_over("reports", "acme", held)
    assert handed.keys == held.keys
    await asyncio.sleep(0.55)  # past the hold
    assert [r.phone for r in (await store.queues.hold_reports("acme", 10, 60_000))[1]] == [
        "13800138002"
    ]
    await store.queues.settle_held("reports", "acme", handed, False)
    assert [r.phone for r in await store.queues.take_reports("acme", 10)] == [
        "13800138000",
        "13800138001",
    ]


async def test_a_hand_over_whose_answer_was_lost_is_settled_all_the_same(store: Store) -> None:
    """Run on the store and its answer lost: run again, or settled with the
    hold's own receipt, it finds the items its first run handed over."""
    for i in range(2):
        await store.queues.enqueue_reply("acme", QueuedReply(f"1380013800{i}", f"r{i}", at(T0)))
    held, _ = await store.queues.hold_replies("acme", 10, 60_000)
    first = await store.queues.hand_over("replies", "acme", held)
    assert (await store.queues.hand_over("replies", "acme", held)).keys == first.keys == held.keys
    await store.queues.settle_held("replies", "acme", held, False)  # the client hung up
    assert [r.text for r in await store.queues.take_replies("acme", 10)] == ["r0", "r1"]


async def test_a_batch_handed_over_and_never_settled_is_not_counted_as_waiting(
    store: Store,
) -> None:
    """Its daemon died after the hand-over: its client has it (or it was lost
    with the daemon).  It must not keep the oldest-item gauge up for days."""
    await store.queues.enqueue_report("acme", QueuedReport("13800138000", 1, at(T0)))
    await store.queues.enqueue_report("acme", QueuedReport("13800138001", 1, at(T0)))
    # Held and handed over twelve minutes ago, as far as the store can tell.
    held, _ = await store.queues.hold_reports("acme", 1, -720_000)
    await store.queues.hand_over("reports", "acme", held)
    assert [r.phone for r in (await store.queues.hold_reports("acme", 10, 60_000))[1]] == [
        "13800138001"
    ]
    count, _ = (await store.queues.queue_stats())["reports"]
    assert count == 1  # the one held now


async def test_a_hand_over_takes_only_what_its_hold_still_has(store: Store) -> None:
    await store.queues.enqueue_reply("acme", QueuedReply("13800138000", "r0", at(T0)))
    first, _ = await store.queues.hold_replies("acme", 10, 100)
    await asyncio.sleep(0.15)
    again, _ = await store.queues.hold_replies("acme", 10, 60_000)  # the first ran out
    assert (await store.queues.hand_over("replies", "acme", first)).keys == ()
    assert (await store.queues.hand_over("replies", "acme", again)).keys == again.keys


async def test_a_daemon_starting_alone_forgets_the_batches_a_dead_one_handed_over(
    store: Store,
) -> None:
    for i in range(2):
        await store.queues.enqueue_report("acme", QueuedReport(f"1380013800{i}", 1, at(T0)))
    handed, _ = await store.queues.hold_reports("acme", 1, 60_000)
    await store.queues.hand_over("reports", "acme", handed)
    await store.queues.hold_reports("acme", 1, 60_000)  # held, not handed over
    alone = isinstance(store, SqliteStore)
    assert await store.queues.release_dead_holds() == (1 if alone else 0)  # the one held
    left = [r.phone for r in await store.queues.take_reports("acme", 10)]
    assert left == (["13800138001"] if alone else [])
