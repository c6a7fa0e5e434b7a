"""The matcher against a real SQLite store: batches, duplicates, late records, replies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.base import DeliveryStatus, Reply, Report
from config.settings import ReportsSettings
from proxy.ingest.accounts import Account, AccountBook
from proxy.ingest.inbox import reply_rows, report_rows
from proxy.ingest.matcher import Matcher
from proxy.store.sends import CandidateQuery, SendCandidate, SendRecord
from proxy.store.sqlite.store import SqliteStore

T = 1_700_000_000_000
WHEN = datetime.fromtimestamp(T / 1000, UTC)


class Book(AccountBook):
    def __init__(self) -> None:
        self.accounts = [Account("e", "esms100", ("e", "e2"), ("e",))]
        self._by_vendor = {"e": self.accounts[0], "e2": self.accounts[0]}
        self._by_name = {"e": self.accounts[0]}


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(tmp_path / "state.sqlite3")
    yield s
    await s.close()


def matcher(store: SqliteStore, clock: Clock, **settings: object) -> Matcher:
    return Matcher(store, Book(), ReportsSettings(**settings), clock)  # type: ignore[arg-type]


def send(
    phone: str, cpid: str = "acme", vendor: str = "e", created_ms: int = T + 300
) -> SendRecord:
    return SendRecord("s", cpid, vendor, phone, "accepted", "0", None, "d", 1, created_ms)


async def test_two_sends_in_one_second_and_a_line_polled_twice(store: SqliteStore) -> None:
    clock = Clock()
    m = matcher(store, clock)
    await store.sends.record_sends([send("13800138000"), send("13800138000", "globex", "e2")])
    await store.sends.record_sends([send("13900139000")])
    line = Report("13800138000", DeliveryStatus.DELIVERED, "1", None, WHEN)
    other = Report("13900139000", DeliveryStatus.DELIVERED, "1", None, WHEN)
    # Two identical lines for the two sends to 13800138000; one line twice for 13900139000.
    await store.inbox.add_reports(report_rows("e", [line, line, other, other], T))
    await m.settle_once()
    assert m.reports_queued == 3
    assert len(await store.queues.take_reports("acme", 10)) == 2
    assert len(await store.queues.take_reports("globex", 10)) == 1  # sent through e2, same account
    # The second 13900139000 line may yet be for a record not written: it waits,
    # and once the retry time is over it is a duplicate, never queued.
    assert await store.inbox.inbox_counts() == {"reports.matched": 3, "reports.pending": 1}
    clock.now += 60_000
    await m.settle_once()
    assert (m.reports_queued, m.duplicates) == (3, 1)
    assert await store.queues.take_reports("acme", 10) == []


async def test_a_record_written_late_is_still_found(store: SqliteStore) -> None:
    clock = Clock()
    m = matcher(store, clock, unmatched_retry_s=10)
    report = Report("13800138000", DeliveryStatus.FAILED, "UNDELIV", None, WHEN)
    await store.inbox.add_reports(report_rows("e", [report], T))
    await m.settle_once()
    assert await store.inbox.inbox_counts() == {"reports.pending": 1}
    clock.now += 200
    await m.settle_once()  # not due yet: nothing read
    await store.sends.record_sends([send("13800138000")])
    clock.now += 100
    await m.settle_once()
    [queued] = await store.queues.take_reports("acme", 10)
    assert (queued.phone, queued.status) == ("13800138000", 2)
    assert queued.sent_at == datetime.fromtimestamp((T + 300) / 1000, UTC)


async def test_a_report_for_nothing_becomes_unmatched(store: SqliteStore) -> None:
    clock = Clock()
    m = matcher(store, clock, unmatched_retry_s=1)
    await store.inbox.add_reports(
        report_rows("e", [Report("13800138000", DeliveryStatus.DELIVERED, "1", "m")], T)
    )
    for step in range(6):
        clock.now = T + step * 300
        await m.settle_once()
    assert m.unmatched == 1
    assert [r.message_id for r in await store.inbox.unmatched_reports(10)] == ["m"]


async def test_replies_are_attributed(store: SqliteStore) -> None:
    clock = Clock()
    m = matcher(store, clock, default_client="house")
    await store.sends.record_sends(
        [send("13800138000", "acme", "other-vendor", T + 1), send("13800138000", "globex", "e", T)]
    )
    replies = [
        Reply("13800138000", "via e: globex sent through e", WHEN),
        Reply("13700137000", "nobody sent here", WHEN),
    ]
    await store.inbox.add_replies(reply_rows("e", replies, T))
    await m.settle_once()
    assert [r.text for r in await store.queues.take_replies("globex", 10)] == [replies[0].text]
    assert [r.text for r in await store.queues.take_replies("house", 10)] == [replies[1].text]
    # Without a default client, a reply nobody sent for is kept unmatched.
    m.default_client = None
    await store.inbox.add_replies(reply_rows("e", [Reply("13600136000", "?", WHEN)], T))
    await m.settle_once()
    assert m.replies_unmatched == 1
    assert (await store.inbox.inbox_counts())["replies.unmatched"] == 1
    assert "replies=2" in repr(m)


async def test_a_batch_of_reports_asks_the_store_for_candidates_once(store: SqliteStore) -> None:
    clock = Clock()
    m = matcher(store, clock)
    asked: list[int] = []
    many = store.sends.send_candidates_many

    async def counted(queries: Sequence[CandidateQuery]) -> list[list[SendCandidate]]:
        asked.append(len(queries))
        return await many(queries)

    store.sends.send_candidates_many = counted  # type: ignore[method-assign]
    phones = [f"1380013{i:04d}" for i in range(30)]
    await store.sends.record_sends([send(p) for p in phones] + [send(phones[0], "globex", "e2", T)])
    lines = [Report(p, DeliveryStatus.DELIVERED, "1", None, WHEN) for p in phones]
    await store.inbox.add_reports(report_rows("e", [*lines, lines[0]], T))
    await m.settle_once()
    assert asked == [31]  # one call for the batch, not one a report
    # And the batch matched as the rules say: the repeated line found the
    # second send to its number, through the account's other vendor.
    assert m.reports_queued == 31
    assert len(await store.queues.take_reports("acme", 100)) == 30
    assert len(await store.queues.take_reports("globex", 100)) == 1


class Seen:
    """An ingest observer that keeps what it is told."""

    def __init__(self) -> None:
        self.matched: dict[tuple[str, int], int] = {}

    def report_matched(self, vendor: str, status: int, count: int = 1) -> None:
        self.matched[vendor, status] = self.matched.get((vendor, status), 0) + count

    def report_unmatched(self, vendor: str) -> None:
        pass

    def reply_delivered(self, vendor: str) -> None:
        pass


async def test_the_matched_reports_of_a_batch_are_counted_by_vendor_and_status(
    store: SqliteStore,
) -> None:
    seen = Seen()
    m = Matcher(store, Book(), ReportsSettings(), Clock(), observer=seen)
    phones = [f"1380013800{i}" for i in range(4)]
    await store.sends.record_sends([send(p) for p in phones])
    statuses = [DeliveryStatus.DELIVERED] * 3 + [DeliveryStatus.FAILED]
    lines = [Report(p, s, "x", None, WHEN) for p, s in zip(phones, statuses, strict=True)]
    await store.inbox.add_reports(report_rows("e", lines, T))
    await m.settle_once()
    assert seen.matched == {("e", DeliveryStatus.DELIVERED): 3, ("e", DeliveryStatus.FAILED): 1}
