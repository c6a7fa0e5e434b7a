"""The claims' part of the store contract: what a retry finds taken."""

from __future__ import annotations

import asyncio
import time

from proxy.store.base import Store
from proxy.store.claims import ClaimWindow, Taken
from proxy.store.queues import QueuedReport
from proxy.store.quotas import QuotaAsk, QuotaExhausted
from proxy.store.redis.store import RedisStore
from proxy.store.sends import RecordState
from proxy.store.settlement import ReportMatched
from tests.store.contract import (
    T0,
    UNRESOLVED_MS,
    WINDOW_MS,
    at,
    candidates,
    inbox_report,
    record,
    script_calls,
    sent,
    taken,
)


async def test_a_retry_finds_what_was_accepted(store: Store) -> None:
    await sent(store, [record("13800138000"), record("13900139000", send_id="s2")])
    assert await taken(store, ["13800138000", "13700137000"]) == {"13800138000": "accepted"}
    assert await taken(store, ["13800138000"], cpid="other") == {}
    assert await taken(store, ["13800138000"], digest="d2") == {}


async def test_the_dedup_window_forgets(store: Store) -> None:
    now = int(time.time() * 1000)
    window = ClaimWindow(now, 300, 300)
    await store.claims.claim_recipients("acme", "d1", "s1", ["13800138000"], window)
    await store.sends.record_sends([record("13800138000", created_ms=now)])
    await asyncio.sleep(0.4)  # the window is wall time, for Redis's expiry too
    later = ClaimWindow(int(time.time() * 1000), 300, 300)
    assert await store.claims.claim_recipients("acme", "d1", "s2", ["13800138000"], later) == []


async def test_a_claim_in_flight_elsewhere_is_unresolved(store: Store) -> None:
    """Two daemons racing one retry: the second finds the first's recipients taken
    (on SQLite, one daemon's send locks do this; its store claims nothing)."""
    first = await taken(store, ["13800138000"], send_id="s1")
    assert first == {}
    second = await taken(store, ["13800138000"], send_id="s2")
    if isinstance(store, RedisStore):
        assert second == {"13800138000": "unresolved"}
        # Given up before any vendor had it: free again.
        await store.claims.release_claims("acme", "d1", "s1", ["13800138000"])
        assert await taken(store, ["13800138000"], send_id="s3") == {}
        # A claim left by a daemon that died before any vendor had it goes stale.
        await taken(store, ["13900139000"], send_id="dead")
        stale = ClaimWindow(T0 + 61_000, WINDOW_MS, UNRESOLVED_MS, stale_claim_ms=60_000)
        found = await store.claims.claim_recipients("acme", "d1", "s4", ["13900139000"], stale)
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
    await store.claims.release_claims("acme", "d1", "send1", ["13800138002"])
    phones = ["13800138000", "13800138001", "13800138002"]
    both = {"13800138000": "unresolved", "13800138001": "unresolved"}
    assert await taken(store, phones, now=T0 + 1000) == both
    # A rule that resends after no clear answer takes them back.
    resend = frozenset({"13800138001"})
    assert await taken(store, phones, now=T0 + 1000, resend=resend) == {"13800138000": "unresolved"}
    # Past routing.unresolved_expire_s without a report: not sent, a retry sends.
    assert await taken(store, phones, now=T0 + UNRESOLVED_MS + 1) == {}


async def test_recent_texts_are_known_or_left_to_claim_recipients(store: Store) -> None:
    await sent(
        store,
        [
            record("13800138000", digest="d1"),
            record("13800138001", digest="d1"),
            record("13800138000", cpid="globex", digest="d2"),
        ],
    )
    texts = await store.claims.recent_texts(0)
    # A shared store says None: only claim_recipients can tell, every time.
    assert texts is None or sorted(texts) == [("acme", "d1"), ("globex", "d2")]
    assert await taken(store, ["13800138001", "13900000000"]) == {"13800138001": "accepted"}


async def test_sends_claiming_at_once_are_each_answered_as_alone(store: Store) -> None:
    """Claims asked in one turn of the loop (on Redis, one script call for them
    all): each send gets its own answer, a quota one would pass refuses that
    one only, and a retry among them finds what the earlier ones claimed."""
    window = ClaimWindow(T0, WINDOW_MS, UNRESOLVED_MS)
    await sent(store, [record("13800138000", send_id="old")])
    quota = QuotaAsk(1, 2)

    async def claim(send: str, phones: list[str], cpid: str = "acme") -> list[Taken] | str:
        try:
            return await store.claims.claim_recipients(cpid, "d1", send, phones, window, quota)
        except QuotaExhausted:
            return "quota"

    calls = await script_calls(store)
    answers = await asyncio.gather(
        claim("s1", ["13800138000", "13800138001"]),  # one accepted already, one claimed
        claim("s2", ["13800138002", "13800138003", "13800138004"], cpid="initech"),  # > 2
        claim("s3", ["13800138004"], cpid="globex"),
        claim("s4", ["13800138001"]),  # s1's claim, or (SQLite) free
    )
    assert answers[:3] == [[Taken("13800138000", True)], "quota", []]
    if isinstance(store, RedisStore):
        assert answers[3] == [Taken("13800138001", False)]
        assert await script_calls(store) - calls == 1
    else:
        assert answers[3] == []
    assert await store.quotas.quota_used("acme") == (1 if isinstance(store, RedisStore) else 2)
    assert await store.quotas.quota_used("initech") == 0
    assert await store.quotas.quota_used("globex") == 1


P = "13800138000"
RESEND = frozenset({P})


def window(now: int, resend: frozenset[str] = frozenset()) -> ClaimWindow:
    # An unresolved answer outlives a claim that never reached a vendor here,
    # so a retry can tell the two apart.
    return ClaimWindow(now, WINDOW_MS, 120_000, resend, stale_claim_ms=20_000)


async def retry(store: Store, send_id: str, now: int, resend: frozenset[str] = frozenset()) -> str:
    found = await store.claims.claim_recipients("acme", "d1", send_id, [P], window(now, resend))
    return "" if not found else "accepted" if found[0].accepted else "unresolved"


async def test_a_resend_that_reached_no_vendor_leaves_the_first_send_unresolved(
    store: Store,
) -> None:
    # A rule with ambiguous = "at_least_once" resends after no clear answer.  If
    # the resend never reaches a vendor (all refused, its daemon died, its
    # release lost), a retry under a rule that does not resend must still find
    # the first send unresolved: its vendor may have the message.
    await sent(store, [record(P, outcome=RecordState.AMBIGUOUS, send_id="s0")])
    assert await retry(store, "s1", T0 + 1_000, RESEND) == ""
    assert await retry(store, "s1", T0 + 1_000, RESEND) == ""  # the call retried
    await store.claims.release_claims("acme", "d1", "s1", [P])
    assert await retry(store, "s2", T0 + 2_000) == "unresolved"
    assert await retry(store, "s3", T0 + 3_000, RESEND) == ""
    # s3's daemon died: its claim goes stale, the first send's answer does not.
    assert await retry(store, "s4", T0 + 30_000) == "unresolved"


async def test_a_report_of_the_first_send_stands_when_a_resend_gives_up(store: Store) -> None:
    await sent(store, [record(P, outcome=RecordState.AMBIGUOUS, send_id="s0")])
    assert await retry(store, "s1", T0 + 1_000, RESEND) == ""
    await store.inbox.add_reports([inbox_report("k1", phone=P)])
    (row,) = await store.inbox.pending_reports(T0 + 10, 10)
    (candidate,) = await candidates(store, ["v1"], P, None)
    queued = QueuedReport(P, 1, at(T0))
    await store.settlement.settle_reports([ReportMatched(row.id, candidate.key, "acme", queued)])
    await store.claims.release_claims("acme", "d1", "s1", [P])
    assert await retry(store, "s2", T0 + 2_000) == "accepted"


async def test_a_late_report_of_the_first_send_stands_over_a_resends_unclear_answer(
    store: Store,
) -> None:
    # The first send and its resend both answered unclearly; then the first
    # one's report says delivered.  A retry, even under the resending rule,
    # must find the number accepted: it has the message.
    await sent(store, [record(P, outcome=RecordState.AMBIGUOUS, send_id="s0")])
    assert await retry(store, "s1", T0 + 1_000, RESEND) == ""
    await store.sends.record_sends(
        [record(P, outcome=RecordState.AMBIGUOUS, send_id="s1", created_ms=T0 + 1_000)]
    )
    await store.inbox.add_reports([inbox_report("k1", phone=P)])
    (row,) = await store.inbox.pending_reports(T0 + 10, 10)
    first = [c for c in await candidates(store, ["v1"], P, None) if c.created_ms == T0]
    queued = QueuedReport(P, 1, at(T0))
    await store.settlement.settle_reports([ReportMatched(row.id, first[0].key, "acme", queued)])
    assert await retry(store, "s2", T0 + 2_000, RESEND) == "accepted"
