"""A send's attempts in the store: in flight before a chunk leaves, settled after.

One :class:`SendLedger` per send, given to the router.  Its writes go
through the :class:`~proxy.recorder.SendRecorder`'s group commit, so an
attempt costs no round trip of its own however many recipients it has.

An attempt waits for its in-flight records to be written before its
request leaves; it does not wait for its settlement, unless the answer
brought message ids the records do not have yet.  The client may hear
the answer while the settlement is still being written (waiting for that
second write doubled the p99 a send adds), so :meth:`SendLedger.settled`
is what the send's locks and claims are held until: a retry of the same
numbers never reads the store before the first try's outcome is in it.  A
daemon killed in those few milliseconds (the settlement waits up to
:data:`proxy.recorder.SETTLE_AFTER_S` for other records to share its write)
leaves the recipients in flight, which is what they were: unresolved until
their vendor's report comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import structlog

from adapters.client import wall_ms
from core.outcome import Outcome
from proxy.recorder import SendRecorder
from proxy.store.sends import RecordState, SendChunk, SendSettlement

log = structlog.get_logger("smsproxy.ledger")


def record_state(outcome: Outcome) -> str:
    if outcome is Outcome.ACCEPTED:
        return RecordState.ACCEPTED
    if outcome is Outcome.AMBIGUOUS:
        return RecordState.AMBIGUOUS
    return RecordState.NOT_SENT


class SendLedger:
    __slots__ = (
        "_cpid",
        "_digest",
        "_intended",
        "_reached",
        "_recorder",
        "_segments",
        "_send_id",
        "_settling",
    )

    def __init__(
        self, recorder: SendRecorder, send_id: str, cpid: str, digest: str, segments: int
    ) -> None:
        self._recorder = recorder
        self._send_id = send_id
        self._cpid = cpid
        self._digest = digest
        self._segments = segments
        # The ids each attempt was written down with, by key: a settlement
        # writes only the ids the answer changed.
        self._intended: dict[int, Mapping[str, str]] = {}
        self._settling: list[asyncio.Future[int]] = []
        # Numbers whose last attempt a vendor has or may have.
        self._reached: set[str] = set()

    async def before(
        self, vendor: str, phones: tuple[str, ...], message_ids: Mapping[str, str]
    ) -> int:
        ids = tuple(map(message_ids.get, phones)) if message_ids else None
        key = await self._recorder.record(
            SendChunk(
                self._send_id,
                self._cpid,
                vendor,
                phones,
                RecordState.IN_FLIGHT,
                "",
                ids,
                self._digest,
                self._segments,
                wall_ms(),
            )
        )
        self._intended[key] = message_ids
        return key

    async def after(
        self,
        key: int,
        phones: tuple[str, ...],
        outcome: Outcome,
        raw_code: str,
        message_ids: Mapping[str, str],
    ) -> None:
        intended = self._intended.pop(key, {})
        ids: tuple[str | None, ...] | None = None
        if message_ids and message_ids is not intended:
            changed = tuple(
                m if (m := message_ids.get(p)) != intended.get(p) else None for p in phones
            )
            ids = changed if any(m is not None for m in changed) else None
        state = record_state(outcome)
        if state == RecordState.NOT_SENT:
            self._reached.difference_update(phones)
        else:
            self._reached.update(phones)
        settlement = SendSettlement(key, len(phones), state, raw_code, ids)
        written = self._recorder.settle(settlement, at_once=ids is not None)
        if ids is not None:
            # Ids only the answer had (c123's, chuanglan's msgid): a report
            # finds its send by them, so they are on disk before the client
            # hears 0 — a daemon killed right after would leave a report
            # waiting out reports.unmatched_retry_s for an id-less record.
            await written
        else:
            self._settling.append(written)

    def not_reached(self, phones: Sequence[str]) -> list[str]:
        """Those of ``phones`` whose last attempt no vendor has, or that had none.

        Their claims are the only ones a release changes: a record's claim
        follows its outcome (:mod:`proxy.store.claims`), and one accepted or
        unresolved stays.  Skipping the others spared the release's round
        trip in every send a vendor accepted.
        """
        reached = self._reached
        return [p for p in phones if p not in reached]

    @property
    def segments(self) -> int:
        """Each recipient's segments."""
        return self._segments

    @property
    def settling(self) -> bool:
        return bool(self._settling)

    async def settled(self) -> None:
        """Until every settlement of this send is written; a failed write is logged."""
        settling, self._settling = self._settling, []
        for result in await asyncio.gather(*settling, return_exceptions=True):
            if isinstance(result, BaseException):
                # The answer stood: the vendor's word is what the client heard.
                log.error("attempt_outcome_not_recorded", error=repr(result))

    def when_settled(self, then: Callable[[], object]) -> None:
        """Call ``then`` once every settlement of this send is written, as
        :meth:`settled` would return: without a task of its own (a task and a
        gather a send cost 4% of a send at full rate, in a profile)."""
        settling, self._settling = self._settling, []
        left = len(settling)

        def one_done(written: asyncio.Future[int]) -> None:
            nonlocal left
            if not written.cancelled() and (exc := written.exception()) is not None:
                log.error("attempt_outcome_not_recorded", error=repr(exc))
            left -= 1
            if not left:
                then()

        for written in settling:
            written.add_done_callback(one_done)
        if not settling:
            then()
