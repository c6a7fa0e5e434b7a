"""Which send a report is for: the matching rules, case by case."""

from __future__ import annotations

from datetime import UTC, datetime

from proxy.ingest.correlate import SLACK_MS, choose, settle
from proxy.store.inbox import InboxReport
from proxy.store.sends import SendCandidate
from proxy.store.settlement import ReportMatched, ReportRetry, ReportUnmatched

T = 1_700_000_000_000


def report(
    message_id: str | None = None, reported_ms: int | None = None, status: int = 1
) -> InboxReport:
    return InboxReport("v", "k", "13800138000", status, "x", message_id, reported_ms, T, id=7)


def rec(
    key: int, message_id: str | None = None, created_ms: int = T, reported: set[int] | None = None
) -> SendCandidate:
    return SendCandidate(key, f"c{key}", "v", message_id, created_ms, frozenset(reported or ()))


def test_the_message_id_decides() -> None:
    records = [rec(1, "m1"), rec(2, "m2"), rec(3, None)]
    assert choose(report("m2"), records) == records[1]


def test_a_known_status_on_the_record_makes_a_duplicate() -> None:
    records = [rec(1, "m1", reported={1})]
    assert choose(report("m1"), records) == records[0]  # the store will call it a duplicate
    assert choose(report("m1", status=2), records) == records[0]


def test_an_unknown_id_waits_for_its_record_then_tries_the_ambiguous_ones() -> None:
    ambiguous = rec(3, None, created_ms=T - 1000)
    assert choose(report("m9", reported_ms=T), [ambiguous]) is None
    assert choose(report("m9", reported_ms=T), [ambiguous], final=True) == ambiguous
    assert choose(report("m9"), [rec(1, "m1")], final=True) is None


def test_without_an_id_the_time_decides() -> None:
    # The vendor's times are floored to the second; our records are written just before our
    # requests: it took the first send at T-1.9 s (says T-2 s) and the second at T+0.2 s
    # (says T), each a few hundred ms after we wrote its record.
    first, second = rec(1, created_ms=T - 2400), rec(2, created_ms=T - 300)
    assert choose(report(reported_ms=T - 2000), [second, first]) == first
    assert choose(report(reported_ms=T), [second, first]) == second


def test_without_an_id_a_record_with_a_report_gives_way() -> None:
    a, b = rec(1, created_ms=T + 900, reported={1}), rec(2, created_ms=T + 100)
    assert choose(report(reported_ms=T), [a, b]) == b
    assert choose(report(reported_ms=T), [a, b], {(2, 1)}) is None  # taken in this batch
    assert choose(report(reported_ms=T), [a, b], {(2, 1)}, final=True) == a  # a duplicate


def test_without_an_id_the_newest_record_before_the_vendors_second_wins() -> None:
    # Written at T+0.75 s, taken by the vendor within the same second (says T): the one
    # written 0.4 s before T, nearer to T, had its own earlier time.
    older, newer = rec(1, created_ms=T - 400), rec(2, created_ms=T + 750)
    assert choose(report(reported_ms=T), [older, newer]) == newer
    assert choose(report(reported_ms=T - 1000), [older, newer]) == older


def test_without_an_id_far_records_are_not_considered() -> None:
    far = rec(1, created_ms=T - SLACK_MS - 1)
    assert choose(report(reported_ms=T), [far], final=True) is None
    ahead = rec(2, created_ms=T - 3000)  # the vendor's clock runs 3 s ahead of ours
    assert choose(report(reported_ms=T), [far, ahead]) == ahead


def test_without_an_id_or_a_time_the_oldest_open_record() -> None:
    records = [
        rec(2, created_ms=T + 5),
        rec(1, created_ms=T, reported={1}),
        rec(3, created_ms=T + 1),
    ]
    assert choose(report(), records) == records[2]


def test_settle_matches_with_the_send_time() -> None:
    decision = settle(report("m1"), [rec(1, "m1", created_ms=T - 5000)], set(), T, 60_000)
    assert isinstance(decision, ReportMatched)
    assert (decision.inbox_id, decision.record_key, decision.cpid) == (7, 1, "c1")
    assert decision.report.sent_at == datetime.fromtimestamp((T - 5000) / 1000, UTC)
    assert (decision.report.phone, decision.report.status) == ("13800138000", 1)


def test_settle_retries_with_a_growing_delay_then_gives_up() -> None:
    first = settle(report("m1"), [], set(), T, 60_000)
    assert first == ReportRetry(7, T + 250)
    later = settle(report("m1"), [], set(), T + 8000, 60_000)
    assert later == ReportRetry(7, T + 8000 + 4000)
    capped = settle(report("m1"), [], set(), T + 59_000, 60_000)
    assert capped == ReportRetry(7, T + 60_000)
    assert settle(report("m1"), [], set(), T + 60_000, 60_000) == ReportUnmatched(7)
