"""The send log's part of the store contract."""

from __future__ import annotations

from proxy.store.base import Store
from proxy.store.claims import ClaimWindow
from proxy.store.queues import QueuedReport
from proxy.store.sends import CandidateQuery, RecordState, SendChunk, SendSettlement
from proxy.store.settlement import ReportMatched
from tests.store.contract import (
    T0,
    UNRESOLVED_MS,
    WINDOW_MS,
    at,
    candidates,
    inbox_report,
    record,
    sent,
    taken,
)


async def test_records_get_consecutive_keys_that_settlements_name(store: Store) -> None:
    phones = [f"1380013800{i}" for i in range(4)]
    first = await sent(
        store, [record(p, outcome=RecordState.IN_FLIGHT, send_id="s1") for p in phones[:2]]
    )
    second = await sent(
        store, [record(p, outcome=RecordState.IN_FLIGHT, send_id="s2") for p in phones[2:]]
    )
    assert second == first + 2
    await store.sends.record_sends(
        [],
        [
            SendSettlement(first, 2, RecordState.ACCEPTED, "0", ("m0", None)),
            SendSettlement(second, 1, RecordState.NOT_SENT, "-10"),
            SendSettlement(second + 1, 1, RecordState.AMBIGUOUS, "timeout"),
        ],
    )
    await store.claims.release_claims("acme", "d1", "s2", phones[2:3])
    assert await taken(store, phones, now=T0 + 1) == {
        phones[0]: "accepted",
        phones[1]: "accepted",
        phones[3]: "unresolved",
    }
    # The answer's id is kept: a report with it finds the record.
    (found,) = await candidates(store, ["v1"], phones[0], "m0")
    assert found.message_id == "m0"
    # A settlement changes only records still in flight.
    await store.sends.record_sends([], [SendSettlement(first, 2, RecordState.NOT_SENT, "x")])
    assert (await taken(store, phones[:1], now=T0 + 1)) == {phones[0]: "accepted"}
    count, listed = await store.sends.unresolved(T0 - 1, 10)
    assert count == 1
    assert [(r.phone, r.outcome) for r in listed] == [(phones[3], RecordState.AMBIGUOUS)]


async def test_a_failover_written_with_the_next_vendors_attempt_stays_unresolved(
    store: Store,
) -> None:
    """Vendor A refused, vendor B has the request out: one write carries A's
    settlement and B's in-flight record, and a retry must see B's."""
    window = ClaimWindow(T0, WINDOW_MS, UNRESOLVED_MS)
    await store.claims.claim_recipients("acme", "d1", "send1", ["13800138000"], window)
    at_a = await store.sends.record_sends([record("13800138000", outcome=RecordState.IN_FLIGHT)])
    await store.sends.record_sends(
        [record("13800138000", vendor="v2", outcome=RecordState.IN_FLIGHT)],
        [SendSettlement(at_a, 1, RecordState.NOT_SENT, "busy")],
    )
    # A send cancelled now (shutdown) gives up only what never reached a vendor.
    await store.claims.release_claims("acme", "d1", "send1", ["13800138000"])
    assert await taken(store, ["13800138000"], now=T0 + 1) == {"13800138000": "unresolved"}


async def test_send_candidates(store: Store) -> None:
    await store.sends.record_sends(
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
    first = await store.sends.record_sends(
        [
            record("13800138000", message_id="m1", created_ms=T0),
            record("13800138000", outcome=RecordState.AMBIGUOUS, created_ms=T0 + 1),
            record("13800138000", outcome=RecordState.NOT_SENT, created_ms=T0 + 2),
            record("13800138000", vendor="v2", message_id="m1", created_ms=T0 + 3),
            record("13900139000", outcome=RecordState.IN_FLIGHT, created_ms=T0 + 4),
            record("13700137000", message_id="", created_ms=T0 + 5),
        ]
    )
    await store.inbox.add_reports([inbox_report("a", status=2)])
    (row,) = await store.inbox.pending_reports(T0, 10)
    queued = QueuedReport("13800138000", 2, at(T0))
    await store.settlement.settle_reports([ReportMatched(row.id, first, "acme", queued)])
    queries = [
        CandidateQuery(("v1",), "13800138000", "m1"),
        CandidateQuery(("v1", "v2"), "13800138000", None),
        CandidateQuery(("v1",), "13900139000", None),
        CandidateQuery((), "13800138000", None),
        CandidateQuery(("v9",), "13800138000", None),
        CandidateQuery(("v1",), "13800138000", "m1"),  # asked twice in one batch
        CandidateQuery(("v1",), "13700137000", None),
    ]
    got = await store.sends.send_candidates_many(queries)
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
    assert await store.sends.send_candidates_many([]) == []


async def test_send_candidates_many_keeps_the_newest_100_of_each_query(store: Store) -> None:
    await store.sends.record_sends(
        [record("13800138000", created_ms=T0 + i) for i in range(105)]
        + [record("13900139000", created_ms=T0 + i) for i in range(60)]
    )
    many, few = await store.sends.send_candidates_many(
        [CandidateQuery(("v1",), "13800138000", None), CandidateQuery(("v1",), "13900139000", None)]
    )
    assert [c.created_ms for c in many] == [T0 + i for i in range(104, 4, -1)]
    assert len(few) == 60


async def test_last_sender(store: Store) -> None:
    assert await store.sends.last_sender("13800138000", None) is None
    await store.sends.record_sends(
        [
            record("13800138000", cpid="acme", vendor="v1", created_ms=T0),
            record("13800138000", cpid="globex", vendor="v2", created_ms=T0 + 1),
        ]
    )
    assert await store.sends.last_sender("13800138000", None) == "globex"
    assert await store.sends.last_sender("13800138000", ["v1"]) == "acme"
    assert await store.sends.last_sender("13800138000", ["v3"]) is None
    assert await store.sends.last_sender("13800138000", []) is None


async def test_purge_forgets_old_records(store: Store) -> None:
    old, new = T0, T0 + 10_000
    await store.sends.record_sends(
        [record("13800138000", created_ms=old), record("13900139000", created_ms=new)]
    )
    assert await store.sends.purge(old + 1) == 1
    (left,) = await candidates(store, ["v1"], "13900139000", None)
    assert left.created_ms == new
    assert await candidates(store, ["v1"], "13800138000", None) == []
    assert await store.sends.purge(old + 1) == 0


def chunk(
    phones: list[str],
    *,
    vendor: str = "v1",
    outcome: str = RecordState.IN_FLIGHT,
    message_ids: tuple[str | None, ...] | None = None,
    created_ms: int = T0,
    send_id: str = "send1",
) -> SendChunk:
    return SendChunk(
        send_id, "acme", vendor, tuple(phones), outcome, "", message_ids, "d1", 1, created_ms
    )


async def test_a_chunk_is_a_record_a_recipient(store: Store) -> None:
    """The send path writes an attempt as one chunk: each recipient is its own
    record to settlements, reports, retries and the unresolved count."""
    phones = [f"1380013800{i}" for i in range(5)]
    before = await sent(store, [record("13700137000")])
    # Claimed first, as the send path does (Redis keeps claims beside the records).
    window = ClaimWindow(T0, WINDOW_MS, UNRESOLVED_MS)
    await store.claims.claim_recipients("acme", "d1", "send1", phones, window)
    first = await store.sends.record_sends(
        [chunk(phones, message_ids=("m0", None, None, None, None)), chunk(["13900139000"])]
    )
    assert first == before + 1
    assert await store.sends.record_sends([chunk(["13600136000"])]) == first + 6
    assert (await store.sends.unresolved(T0 - 1, 3))[0] == 7
    # Part of the chunk settled, ids for some: the rest keeps its own state.
    await store.sends.record_sends(
        [],
        [
            SendSettlement(first + 1, 2, RecordState.ACCEPTED, "0", ("m1", "m2")),
            SendSettlement(first + 3, 1, RecordState.AMBIGUOUS, "timeout"),
        ],
    )
    assert await taken(store, phones, now=T0 + 1) == {
        phones[0]: "unresolved",
        phones[1]: "accepted",
        phones[2]: "accepted",
        phones[3]: "unresolved",
        phones[4]: "unresolved",
    }
    ids = [(await candidates(store, ["v1"], p, None))[0].message_id for p in phones]
    assert ids == ["m0", "m1", "m2", None, None]
    keys = [(await candidates(store, ["v1"], p, None))[0].key for p in phones]
    assert keys == [first + i for i in range(5)]
    # A report on one recipient of the ambiguous part resolves that one alone.
    await store.inbox.add_reports([inbox_report("r", phone=phones[3])])
    (row,) = await store.inbox.pending_reports(T0, 10)
    queued = QueuedReport(phones[3], 1, at(T0))
    await store.settlement.settle_reports([ReportMatched(row.id, first + 3, "acme", queued)])
    assert await taken(store, phones[3:], now=T0 + 1) == {
        phones[3]: "accepted",
        phones[4]: "unresolved",
    }
    count, listed = await store.sends.unresolved(T0 - 1, 10)
    assert count == 4  # phones 0 and 4, 13900139000, 13600136000
    assert sorted(r.phone for r in listed) == sorted(
        [phones[0], phones[4], "13900139000", "13600136000"]
    )
    assert await store.sends.last_sender(phones[2], ["v1"]) == "acme"
    assert await store.sends.purge(T0 + 1) == 8
    assert await candidates(store, ["v1"], phones[0], None) == []


# What a store may be given besides the 11-digit mobile numbers a send has:
# the SQLite store keeps those as integers and packed digits, anything else
# as it was given, and must tell every one of these apart from the others.
ODD_NUMBERS = [
    "13800138000",
    "+13800138000",
    "013800138000",
    "03800138000",
    "1380013800",
    "138001380001",
    "１３８００１３８０００",  # full-width digits
    "13800138000 ",
    "1380013800a",
    "0",
    "",
]


async def test_a_number_of_any_shape_is_found_as_it_was_given(store: Store) -> None:
    # Claimed first, as the send path does (Redis keeps claims beside the records).
    window = ClaimWindow(T0, WINDOW_MS, UNRESOLVED_MS)
    mobiles = ["13900139000", "13900139001", "13900139002"]
    await store.claims.claim_recipients("acme", "d1", "send1", ODD_NUMBERS + mobiles, window)
    first = await store.sends.record_sends([chunk(ODD_NUMBERS), chunk(mobiles)])
    for place, phone in enumerate(ODD_NUMBERS):
        (found,) = await candidates(store, ["v1"], phone, None)
        assert found.key == first + place, phone
        assert await store.sends.last_sender(phone, None) == "acme"
    assert await taken(store, ODD_NUMBERS, now=T0 + 1) == dict.fromkeys(ODD_NUMBERS, "unresolved")
    # A report on one of them splits its chunk: each part keeps its numbers.
    await store.inbox.add_reports([inbox_report("r", phone=ODD_NUMBERS[2])])
    (row,) = await store.inbox.pending_reports(T0, 10)
    queued = QueuedReport(ODD_NUMBERS[2], 1, at(T0))
    await store.settlement.settle_reports([ReportMatched(row.id, first + 2, "acme", queued)])
    await store.sends.record_sends(
        [], [SendSettlement(first + len(ODD_NUMBERS) + 1, 2, RecordState.ACCEPTED, "0")]
    )
    got = await taken(store, ODD_NUMBERS + mobiles, now=T0 + 1)
    assert got == {
        **dict.fromkeys(ODD_NUMBERS + mobiles, "unresolved"),
        ODD_NUMBERS[2]: "accepted",
        mobiles[1]: "accepted",
        mobiles[2]: "accepted",
    }
    count, listed = await store.sends.unresolved(T0 - 1, 20)
    assert count == len(ODD_NUMBERS)
    wanted = [p for p in ODD_NUMBERS if p != ODD_NUMBERS[2]] + mobiles[:1]
    assert sorted(r.phone for r in listed) == sorted(wanted)
    assert await store.sends.purge(T0 + 1) == len(ODD_NUMBERS) + 3
    for phone in ODD_NUMBERS + mobiles:
        assert await candidates(store, ["v1"], phone, None) == []
