"""A send's ledger over a real recorder and SQLite store: what waits for what, and
when a store busy for one attempt makes the send busy (-15) or fails that attempt (-110)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import proxy.recorder
from config.loader import settings_from
from core.busy import StoreBusy
from core.outcome import Outcome
from core.send import HttpRequest, HttpResponse
from proxy.clients import Client
from proxy.ledger import SendLedger
from proxy.passwords import PasswordCheck
from proxy.recorder import SendRecorder
from proxy.sending import SendService
from proxy.store.redis.connect import ReplicasBehind
from proxy.store.sends import SendChunk, SendRecord
from proxy.store.sqlite.store import SqliteStore
from routing.answer import legacy_code
from routing.limits import Rate, SlidingWindow
from routing.router import Router
from tests.unit.test_config_rules import vendor
from tests.unit.test_router import runtime


@pytest.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[tuple[SendRecorder, Path]]:
    path = tmp_path / "state.sqlite3"
    store = await SqliteStore.open(path)
    rec = SendRecorder(store)
    rec.start()
    try:
        yield rec, path
    finally:
        await rec.stop()
        await store.close()


def outcome_on_disk(path: Path, phone: str) -> str:
    with sqlite3.connect(path) as db:
        (outcome,) = db.execute(
            "SELECT outcome FROM send_records WHERE phone = ?", (phone,)
        ).fetchone()
    return str(outcome)


async def test_when_settled_runs_only_once_the_outcome_is_on_disk(
    recorder: tuple[SendRecorder, Path],
) -> None:
    # The send's locks are released by this callback: a retry of the same
    # numbers must find the first try's outcome in the store, never in flight.
    rec, path = recorder
    ledger = SendLedger(rec, "s1", "acme", "digest", 1)
    phones = ("13800138000", "13900139000")
    key = await ledger.before("v", phones, {})
    await ledger.after(key, phones, Outcome.ACCEPTED, "0", {})
    assert ledger.settling
    seen: list[str] = []
    ledger.when_settled(lambda: seen.append(outcome_on_disk(path, phones[1])))
    assert seen == []
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.005)
    assert seen == ["accepted"]


async def test_when_settled_with_nothing_settling_runs_at_once(
    recorder: tuple[SendRecorder, Path],
) -> None:
    rec, _ = recorder
    ledger = SendLedger(rec, "s2", "acme", "digest", 1)
    called: list[bool] = []
    ledger.when_settled(lambda: called.append(True))
    assert called == [True]


async def test_not_reached_names_the_numbers_whose_last_attempt_no_vendor_has(
    recorder: tuple[SendRecorder, Path],
) -> None:
    # Only their claims are released after the send: one a vendor has or may
    # have stays, and a send a vendor accepted makes no release at all.
    rec, _ = recorder
    ledger = SendLedger(rec, "s3", "acme", "digest", 1)
    taken, refused, moved, unsure, untried = (
        "13800138000",
        "13800138001",
        "13800138002",
        "13800138003",
        "13800138004",
    )
    first = await ledger.before("a", (taken, refused, moved), {})
    await ledger.after(first, (taken,), Outcome.ACCEPTED, "0", {})
    await ledger.after(first + 1, (refused, moved), Outcome.UNREACHABLE, "500", {})
    # Failed over: the next vendor's outcome is the one the claim follows.
    second = await ledger.before("b", (moved, unsure), {})
    await ledger.after(second, (moved,), Outcome.ACCEPTED, "0", {})
    await ledger.after(second + 1, (unsure,), Outcome.AMBIGUOUS, "timeout", {})
    everyone = [taken, refused, moved, unsure, untried]
    assert ledger.not_reached(everyone) == [refused, untried]
    # And back: an unsure number refused by a vendor after it is claimed-only again.
    third = await ledger.before("c", (unsure,), {})
    await ledger.after(third, (unsure,), Outcome.REQUEST_INVALID, "-1", {})
    assert ledger.not_reached(everyone) == [refused, unsure, untried]


async def test_a_settlement_rides_with_the_next_sends_records(
    recorder: tuple[SendRecorder, Path],
) -> None:
    """At a steady thousand sends a second, one commit a send, not two."""
    rec, path = recorder
    first = SendLedger(rec, "s1", "acme", "digest", 1)
    key = await first.before("v", ("13800138000",), {})
    flushes = rec.flushes
    await first.after(key, ("13800138000",), Outcome.ACCEPTED, "0", {})
    await asyncio.sleep(0)  # the flusher would start a write of the settlement alone now
    second = SendLedger(rec, "s2", "acme", "digest", 1)
    await second.before("v", ("13900139000",), {})
    await first.settled()
    assert rec.flushes == flushes + 1
    assert outcome_on_disk(path, "13800138000") == "accepted"


async def test_a_settlement_alone_is_written_within_milliseconds(
    recorder: tuple[SendRecorder, Path],
) -> None:
    rec, path = recorder
    ledger = SendLedger(rec, "s1", "acme", "digest", 1)
    key = await ledger.before("v", ("13800138000",), {})
    await ledger.after(key, ("13800138000",), Outcome.ACCEPTED, "0", {})
    await asyncio.wait_for(ledger.settled(), 0.5)
    assert outcome_on_disk(path, "13800138000") == "accepted"


async def test_a_settlement_with_ids_the_record_lacks_is_written_at_once(
    recorder: tuple[SendRecorder, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report finds its send by them: on disk before the client hears 0,
    without waiting for other records to share the write."""
    rec, path = recorder
    monkeypatch.setattr(proxy.recorder, "SETTLE_AFTER_S", 60.0)
    ledger = SendLedger(rec, "s1", "acme", "digest", 1)
    key = await ledger.before("v", ("13800138000",), {})
    after = ledger.after(key, ("13800138000",), Outcome.ACCEPTED, "0", {"13800138000": "m-1"})
    await asyncio.wait_for(after, 5.0)
    assert not ledger.settling
    assert outcome_on_disk(path, "13800138000") == "accepted"


class SequenceVendor:
    """Answers each request with the next of ``bodies`` (esms100's codes)."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies

    async def exchange(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, self.bodies.pop(0))


class BusyFor(SendRecorder):
    """The recorder, but the store is busy for the records of ``vendor``'s attempts,
    or of the attempts to ``phone``."""

    def __init__(self, store: SqliteStore, vendor: str = "", phone: str = "") -> None:
        super().__init__(store)
        self.vendor, self.phone = vendor, phone

    async def record(self, entry: SendRecord | SendChunk) -> int:
        phones = entry.phones if isinstance(entry, SendChunk) else (entry.phone,)
        if entry.vendor == self.vendor or self.phone in phones:
            # At once: before another chunk's record, in the recorder's next
            # group commit, is written and its request leaves.
            raise ReplicasBehind("0 of 1 replica(s) acknowledged the write", None)
        return await super().record(entry)


@contextlib.asynccontextmanager
async def busy_for(
    tmp_path: Path, vendor: str = "", phone: str = ""
) -> AsyncIterator[tuple[BusyFor, SqliteStore]]:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    rec = BusyFor(store, vendor, phone)
    rec.start()
    try:
        yield rec, store
    finally:
        await rec.stop()
        await store.close()


@pytest.mark.parametrize("reached_first", [True, False])
async def test_a_busy_store_is_busy_only_until_part_of_the_send_has_left(
    tmp_path: Path, reached_first: bool
) -> None:
    # Vendor a takes one number a chunk: it accepts the first and refuses the
    # second, which fails over to b, whose record finds the store busy.  Were
    # the send "busy" (-15), the client would send the first number again.
    async with busy_for(tmp_path, "b") as (rec, _):
        a = runtime(SequenceVendor([b"0" if reached_first else b"-15", b"-15"]), "a")
        a.max_numbers = 1
        router = Router([a, runtime(SequenceVendor([b"0"]), "b")])
        ledger = SendLedger(rec, "s1", "acme", "digest", 1)
        phones = ["13800138000", "13800138001"]
        deadline = time.monotonic() + 5
        if not reached_first:
            with pytest.raises(StoreBusy):  # nothing left: the client may try again
                await router.route(phones, "hi", deadline, router.all_vendors(), ledger)
            return
        result = await router.route(phones, "hi", deadline, router.all_vendors(), ledger)
        assert [a.phones for a in result.accepted()] == [("13800138000",)]
        assert result.failed == {"13800138001": Outcome.REQUEST_INVALID}
        assert legacy_code(list(result.failed.values())) == -110


@pytest.mark.parametrize("dedup_window_s", [0, 600])
async def test_a_rule_group_the_store_is_busy_for_fails_once_another_group_was_sent(
    tmp_path: Path, dedup_window_s: int
) -> None:
    # Two rule groups (unicom numbers to b, the rest to a); b's record finds
    # the store busy after a took its number.  Dedup off, "busy" (-15) would
    # have the client's retry send a's number again: b's fails (-110).  Dedup
    # on, the retry is answered 0 for a's number and sends b's: busy.
    settings = settings_from(
        {
            "routing": {"dedup_window_s": dedup_window_s},
            "clients": [{"cpid": "acme", "password": "x"}],
            "vendors": [vendor("a"), vendor("b")],
            "rules": [
                {"name": "unicom", "match": {"carriers": ["unicom"]}, "vendors": ["b"]},
                {"name": "default", "vendors": ["a"]},
            ],
        },
        "t",
    )
    async with busy_for(tmp_path, "b") as (rec, store):
        a, b = SequenceVendor([b"0"]), SequenceVendor([b"0"])
        router = Router([runtime(a, "a"), runtime(b, "b")])
        service = SendService(router, rec, store, settings)
        unmatchable = PasswordCheck.unmatchable()
        rate = SlidingWindow(Rate(100, 1.0))
        client = Client(settings.clients[0], unmatchable, unmatchable, rate)
        phones = ["13800000001", "13000000001"]
        if dedup_window_s:
            with pytest.raises(StoreBusy):
                await service.send(client, "s1", phones, "hello")
        else:
            assert await service.send(client, "s1", phones, "hello") == -110
        assert (a.bodies, b.bodies) == ([], [b"0"])  # a's number sent, b's not


async def test_a_chunk_the_store_is_busy_for_fails_once_its_sibling_was_sent(
    tmp_path: Path,
) -> None:
    # One number a chunk, two chunks at once: the second's record finds the
    # store busy after the first's request left.
    async with busy_for(tmp_path, phone="13800138001") as (rec, _):
        vendor = SequenceVendor([b"0", b"0"])
        a = runtime(vendor, "a")
        a.max_numbers = 1
        router = Router([a])
        ledger = SendLedger(rec, "s1", "acme", "digest", 1)
        phones = ["13800138000", "13800138001"]
        result = await router.route(
            phones, "hi", time.monotonic() + 5, router.all_vendors(), ledger
        )
        assert [a.phones for a in result.accepted()] == [("13800138000",)]
        assert result.failed == {"13800138001": Outcome.REQUEST_INVALID}
        assert [a.raw_code for a in result.attempts] == ["0", "store_busy"]
        assert isinstance(result.busy, StoreBusy)
        assert vendor.bodies == [b"0"]  # one request left
