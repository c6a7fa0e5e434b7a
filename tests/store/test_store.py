"""The store as a whole: it answers, and what it holds survives a reopen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from proxy.store.base import Store
from proxy.store.queues import QueuedReport
from tests.store.contract import T0, at, candidates, inbox_reply, inbox_report, record


async def test_ping(store: Store) -> None:
    assert await store.ping()


async def test_everything_survives_a_reopen(opener: Callable[[], Awaitable[Store]]) -> None:
    first = await opener()
    await first.sends.record_sends([record("13800138000", message_id="m1")])
    await first.inbox.add_reports([inbox_report("a", message_id="m1")])
    await first.inbox.add_replies([inbox_reply("r")])
    await first.queues.enqueue_report("acme", QueuedReport("13800138000", 1, at(T0)))
    await first.close()
    second = await opener()
    try:
        assert await second.inbox.add_reports([inbox_report("a", message_id="m1")]) == 0
        assert [r.key for r in await second.inbox.pending_reports(T0, 10)] == ["a"]
        assert [r.key for r in await second.inbox.pending_replies(10)] == ["r"]
        assert len(await candidates(second, ["v1"], "13800138000", "m1")) == 1
        assert len(await second.queues.take_reports("acme", 10)) == 1
    finally:
        await second.close()
