"""Carry one send across the vendors of its plan, failing over chunk by chunk.

The failover cursor is a local variable of :meth:`Router.route`; the router
itself holds only what outlives a send: each vendor's client, health and
rate limiter.  It knows a vendor only as a :class:`core.send.SendClient`;
the daemon's is :class:`adapters.client.VendorClient`, which is what the
router is parametrised with there (``Router[VendorClient]``), so that the
daemon's other users of a vendor (balance checks, the admin API) keep its
full type.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

import structlog

from config.vendor import VendorSettings
from core.busy import StoreBusy
from core.outcome import Outcome, decide
from core.send import NO_IDS, Chunk, SendClient, SendResult, segments, split_chunks
from routing.health import VendorHealth, VendorState
from routing.ledger import NO_LEDGER, AttemptLedger
from routing.limits import RateLimiter, Slot
from routing.observer import NoObserver, RouteObserver
from routing.plan import Plan, VendorView, make_plan
from routing.signature import text_for_vendor

log = structlog.get_logger("smsproxy.router")

C = TypeVar("C", bound=SendClient)  # the vendor client the daemon gives the router

# An attempt runs under a timer of its own only when the vendor's transport
# may still be waiting at the send's deadline.  Its own time-outs (connect
# plus answer) end every exchange sooner otherwise, so a timer would never
# fire and only cost its scheduling; this much slack covers a late event loop.
TIMER_SLACK_S = 1.0
# A probe's turn lasts its longest exchange and this much more, for its
# outcome to reach the other daemons (a write and an announcement).
PROBE_SHARE_S = 1.0


@dataclass
class VendorRuntime(Generic[C]):
    name: str
    client: C
    health: VendorHealth
    limiter: RateLimiter  # its requests in any one-second window
    price_per_segment: float
    max_numbers: int | None = None  # the operator's cap, below the vendor's own
    signature: str = "as_is"
    signature_text: str | None = None
    settings: VendorSettings | None = None  # what it was built from, to tell a reload's changes

    @property
    def chunk_size(self) -> int:
        cap = self.client.limits.max_numbers
        return min(cap, self.max_numbers) if self.max_numbers else cap

    @property
    def answers_within_s(self) -> float | None:
        """How long the transport lets an exchange take at most; None: not known."""
        s = self.settings
        return None if s is None else s.timeout_s  # the whole exchange, connecting included

    def view(self) -> VendorView:
        h = self.health
        state = h.state
        return VendorView(
            self.name,
            self.price_per_segment,
            self.client.limits.max_text_chars,
            state is VendorState.ROUTABLE or h.available(),
            state.value,
            h.reason,
            h.latency_ewma_s,
            h.balance_segments,
            self.signature,
            self.signature_text,
        )


@dataclass(frozen=True)
class RoutePolicy:
    """What a rule says about how to route its recipients."""

    vendors: tuple[str, ...]
    strategy: str = "cheapest"
    weights: Mapping[str, float] = field(default_factory=dict)
    content_rejected_fails_over: bool = True
    ambiguous_resends: bool = False
    rule: str = "default"

    def fails_over(self, outcome: Outcome) -> bool:
        if outcome is Outcome.CONTENT_REJECTED:
            return self.content_rejected_fails_over
        if outcome is Outcome.AMBIGUOUS:
            return self.ambiguous_resends
        return decide(outcome).fail_over


class Attempt(NamedTuple):  # one or more per send: a tuple is the cheapest to build
    vendor: str
    phones: tuple[str, ...]
    outcome: Outcome
    raw_code: str
    latency_s: float
    message_ids: Mapping[str, str] = NO_IDS


@dataclass(slots=True)
class RouteResult:
    plan: Plan
    attempts: list[Attempt] = field(default_factory=list)
    failed: dict[str, Outcome] = field(default_factory=dict)  # phone -> last outcome
    # The store was busy for a chunk's record once a vendor had some of the
    # send: the chunk failed unsent, and the send decides (SendService._send).
    busy: StoreBusy | None = None

    def accepted(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome is Outcome.ACCEPTED]

    def reached(self) -> bool:
        """Whether a vendor has, or may have, any of its recipients."""
        return any(a.outcome in _REACHED for a in self.attempts)


_REACHED = (Outcome.ACCEPTED, Outcome.AMBIGUOUS)


class Router(Generic[C]):
    def __init__(
        self,
        vendors: Sequence[VendorRuntime[C]],
        *,
        rate_wait_s: float = 2.0,
        rng: Callable[[], float] = random.random,
        observer: RouteObserver | None = None,
    ) -> None:
        self.vendors = {v.name: v for v in vendors}
        self.observer: RouteObserver = observer or NoObserver()
        self.rate_wait_s = rate_wait_s
        self._rng = rng
        self._attempt_ids = itertools.count(int(time.time()) % 1_000_000 * 1000 + 1)

    def __repr__(self) -> str:
        states = ", ".join(f"{n}={v.health.state.value}" for n, v in self.vendors.items())
        return f"<Router {states}>"

    def snapshot(self) -> list[VendorView]:
        return [v.view() for v in self.vendors.values()]

    def all_vendors(self) -> RoutePolicy:
        return RoutePolicy(tuple(self.vendors))

    def plan(self, text: str, recipients: int, policy: RoutePolicy) -> Plan:
        vendors = self.vendors
        candidates = [vendors[n].view() for n in policy.vendors if n in vendors]
        return make_plan(text, recipients, candidates, policy.strategy, policy.weights, self._rng())

    def any_routable(self) -> bool:
        return any(v.health.state is VendorState.ROUTABLE for v in self.vendors.values())

    async def route(
        self,
        phones: Sequence[str],
        text: str,
        deadline: float,
        policy: RoutePolicy,
        ledger: AttemptLedger = NO_LEDGER,
    ) -> RouteResult:
        plan = self.plan(text, len(phones), policy)
        result = RouteResult(plan)
        pending: Sequence[str] = phones  # replaced, never changed
        last: Outcome | None = None  # why the pending left the last vendor
        moved: dict[tuple[str, Outcome], None] = {}  # (from vendor, why) of the pending
        for name in plan.order:
            if not pending:
                break
            if time.monotonic() >= deadline:
                break
            if moved:
                for from_vendor, why in moved:
                    self.observer.failover(from_vendor, name, why)
                moved = {}
            vendor = self.vendors[name]
            vendor_text = text_for_vendor(text, vendor.signature, vendor.signature_text)
            assert vendor_text is not None  # the plan drops vendors that cannot take it
            size = vendor.chunk_size
            if len(pending) <= size:  # the common case: no task and no gather for one chunk
                chunk = tuple(pending)
                try:
                    attempts = [await self._attempt(vendor, chunk, vendor_text, deadline, ledger)]
                except StoreBusy as busy:
                    attempts = _busy_or_failed(vendor.name, [chunk], [busy], result)
            else:
                chunks = list(split_chunks(pending, size))
                # Every chunk ends before the send does: one chunk's store busy
                # must not leave the others at the vendor unaccounted for.
                ended = await asyncio.gather(
                    *(self._attempt(vendor, c, vendor_text, deadline, ledger) for c in chunks),
                    return_exceptions=True,
                )
                attempts = _busy_or_failed(vendor.name, chunks, ended, result)
            pending = []
            for attempt in attempts:
                result.attempts.append(attempt)
                if attempt.outcome is Outcome.ACCEPTED:
                    continue
                if policy.fails_over(attempt.outcome):
                    pending.extend(attempt.phones)
                    last = attempt.outcome
                    moved[(attempt.vendor, attempt.outcome)] = None
                else:
                    for phone in attempt.phones:
                        result.failed[phone] = attempt.outcome
        for from_vendor, why in moved:
            self.observer.failover(from_vendor, "none", why)
        if pending:
            # Only now, and rarely: recipients no vendor was even tried for.
            why_left = last if last is not None else _why_none(plan)
            for phone in pending:
                result.failed[phone] = why_left
        return result

    async def _attempt(
        self,
        vendor: VendorRuntime[C],
        phones: tuple[str, ...],
        text: str,
        deadline: float,
        ledger: AttemptLedger,
    ) -> Attempt:
        chunk = Chunk(phones, text, next(self._attempt_ids) % 2_000_000_000)
        prepared = vendor.client.prepare(chunk)
        if isinstance(prepared, SendResult):  # could not be built: nothing leaves
            self.observer.attempt(vendor.name, prepared.outcome, len(phones), 0, -1.0, 0.0)
            return Attempt(vendor.name, phones, prepared.outcome, prepared.raw_code, 0.0)
        health = vendor.health
        if health.probe_due():
            turn_s = vendor.answers_within_s or max(0.0, deadline - time.monotonic())
            if not await health.take_probe_turn(turn_s + PROBE_SHARE_S):
                # Another daemon probes it now, and its outcome decides for this one.
                return Attempt(vendor.name, phones, Outcome.UNREACHABLE, "probe_elsewhere", 0.0)
        try:
            key = await ledger.before(vendor.name, phones, prepared.message_ids)
        except StoreBusy:
            # Nothing sent, nothing to fail over to (every vendor's record goes
            # to the same store): the client is told to try again (-15).
            raise
        except Exception as exc:
            # Unrecorded, a send could be repeated after a crash: better not sent.
            log.error("attempt_not_recorded", vendor=vendor.name, error=repr(exc))
            return Attempt(vendor.name, phones, Outcome.REQUEST_INVALID, "store_error", 0.0)
        # The slot last, once nothing but the request is left to do: the vendor
        # counts the request when it arrives, and a slot taken before the
        # store's write (a group commit, at times 100 ms and more) let it
        # arrive that much later than the slot says, closer to the next ones.
        started = time.monotonic()
        slot = await vendor.limiter.acquire(min(started + self.rate_wait_s, deadline))
        if slot is not Slot.FREE:
            waited = time.monotonic() - started
            self.observer.rate_wait(vendor.name, waited, gave_up=slot is Slot.MISSED)
            if slot is Slot.MISSED:
                # Our own limit: the vendor never saw it, so its health is untouched.
                self.observer.attempt(vendor.name, Outcome.RATE_LIMITED, len(phones), 0, -1.0, 0.0)
                mine = Attempt(vendor.name, phones, Outcome.RATE_LIMITED, "local_rate_limit", 0.0)
                await self._settle(ledger, key, mine)
                return mine
        health.begin_attempt()
        sent = time.monotonic()
        within = vendor.answers_within_s
        if within is not None and sent + within + TIMER_SLACK_S < deadline:
            answer = await vendor.client.complete(prepared)
        else:
            try:
                async with asyncio.timeout(max(0.001, deadline - sent)):
                    answer = await vendor.client.complete(prepared)
            except TimeoutError:
                answer = SendResult(Outcome.AMBIGUOUS, "deadline")
        latency = time.monotonic() - sent
        outcome = answer.outcome
        health.record(outcome, latency)
        recipients = len(phones)
        billed = segments(text) * recipients
        self.observer.attempt(
            vendor.name, outcome, recipients, billed, latency, billed * vendor.price_per_segment
        )
        if outcome is Outcome.ACCEPTED:
            # Balance checks come a minute apart: between them /qamount/ and
            # the plan must not see money already spent.
            health.spend(billed)
        else:
            log.info(
                "attempt_refused",
                vendor=vendor.name,
                outcome=outcome.value,
                code=answer.raw_code,
                recipients=recipients,
            )
        ids = answer.message_ids
        attempt = Attempt(vendor.name, phones, outcome, answer.raw_code, latency, ids)
        await self._settle(ledger, key, attempt)
        return attempt

    @staticmethod
    async def _settle(ledger: AttemptLedger, key: int, attempt: Attempt) -> None:
        try:
            await ledger.after(
                key, attempt.phones, attempt.outcome, attempt.raw_code, attempt.message_ids
            )
        except Exception as exc:
            # The answer stands: the vendor's word is what the client must hear.
            log.error("attempt_outcome_not_recorded", vendor=attempt.vendor, error=repr(exc))


def _busy_or_failed(
    vendor: str,
    chunks: Sequence[tuple[str, ...]],
    ended: Sequence[Attempt | BaseException],
    result: RouteResult,
) -> list[Attempt]:
    """Each chunk's attempt, once all have ended.

    A chunk whose record the store could not write was not sent.  While no
    vendor has any of the route's recipients, that is the store being busy
    (raised: the client is told to try again, ``-15``).  Once one has or may
    have some, the chunk fails unsent and ``result.busy`` says why: whether
    "try again" is safe depends on the send's de-duplication, which is the
    send's to weigh.
    """
    attempts: list[Attempt] = []
    busy: StoreBusy | None = None
    for chunk, one in zip(chunks, ended, strict=True):
        if isinstance(one, StoreBusy):
            busy = busy or one
            attempts.append(Attempt(vendor, chunk, Outcome.REQUEST_INVALID, "store_busy", 0.0))
        elif isinstance(one, BaseException):
            raise one
        else:
            attempts.append(one)
    if busy is not None:
        if not result.reached() and not any(a.outcome in _REACHED for a in attempts):
            raise busy
        result.busy = result.busy or busy
    return attempts


def _why_none(plan: Plan) -> Outcome:
    """The outcome for recipients no vendor was even tried for."""
    money = ("drained (balance_exhausted)", "no balance")
    if plan.skipped and all(why in money for _, why in plan.skipped):
        return Outcome.BALANCE_EXHAUSTED
    return Outcome.UNREACHABLE
