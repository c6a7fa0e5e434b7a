"""Carry one send across the vendors of its plan, failing over chunk by chunk.

The failover cursor is a local variable of :meth:`Router.route`; the router
itself holds only what outlives a send: each vendor's client, health and
rate limiter.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from aiolimiter import AsyncLimiter

from adapters.base import Chunk, SendResult, segments, split_chunks
from adapters.client import VendorClient
from routing.health import VendorHealth, VendorState
from routing.outcome import Outcome, decide
from routing.plan import Plan, VendorView, make_plan

log = structlog.get_logger("smsproxy.router")


@dataclass
class VendorRuntime:
    name: str
    client: VendorClient
    health: VendorHealth
    limiter: AsyncLimiter
    price_per_segment: float

    def view(self) -> VendorView:
        h = self.health
        return VendorView(
            name=self.name,
            price_per_segment=self.price_per_segment,
            max_text_chars=self.client.adapter.limits.max_text_chars,
            available=h.available(),
            state=h.state.value,
            reason=h.reason,
            latency_s=h.latency_ewma_s,
            balance_segments=h.balance_segments,
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    vendor: str
    phones: tuple[str, ...]
    outcome: Outcome
    raw_code: str
    latency_s: float
    message_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RouteResult:
    plan: Plan
    attempts: list[Attempt] = field(default_factory=list)
    failed: dict[str, Outcome] = field(default_factory=dict)  # phone -> last outcome

    def accepted(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome is Outcome.ACCEPTED]


class Router:
    def __init__(self, vendors: Sequence[VendorRuntime], *, rate_wait_s: float = 2.0) -> None:
        self.vendors = {v.name: v for v in vendors}
        self.rate_wait_s = rate_wait_s
        self._attempt_ids = itertools.count(int(time.time()) % 1_000_000 * 1000 + 1)

    def __repr__(self) -> str:
        states = ", ".join(f"{n}={v.health.state.value}" for n, v in self.vendors.items())
        return f"<Router {states}>"

    def snapshot(self) -> list[VendorView]:
        return [v.view() for v in self.vendors.values()]

    def plan(self, text: str, recipients: int) -> Plan:
        return make_plan(len(text), segments(text), recipients, self.snapshot())

    def any_routable(self) -> bool:
        return any(v.health.state is VendorState.ROUTABLE for v in self.vendors.values())

    async def route(self, phones: Sequence[str], text: str, deadline: float) -> RouteResult:
        plan = self.plan(text, len(phones))
        result = RouteResult(plan)
        pending: list[str] = list(phones)
        last: Outcome = _why_none(plan)
        for name in plan.order:
            if not pending:
                break
            if time.monotonic() >= deadline:
                last = Outcome.AMBIGUOUS if result.attempts else Outcome.UNREACHABLE
                break
            vendor = self.vendors[name]
            cap = vendor.client.adapter.limits.max_numbers
            attempts = await asyncio.gather(
                *(
                    self._attempt(vendor, chunk, text, deadline)
                    for chunk in split_chunks(pending, cap)
                )
            )
            pending = []
            for attempt in attempts:
                result.attempts.append(attempt)
                if attempt.outcome is Outcome.ACCEPTED:
                    continue
                if decide(attempt.outcome).fail_over:
                    pending.extend(attempt.phones)
                    last = attempt.outcome
                else:
                    for phone in attempt.phones:
                        result.failed[phone] = attempt.outcome
        for phone in pending:
            result.failed[phone] = last
        return result

    async def _attempt(
        self, vendor: VendorRuntime, phones: tuple[str, ...], text: str, deadline: float
    ) -> Attempt:
        started = time.monotonic()
        wait = min(self.rate_wait_s, deadline - started)
        try:
            async with asyncio.timeout(max(0.0, wait)):
                await vendor.limiter.acquire()
        except TimeoutError:
            # Our own limit: the vendor never saw it, so its health is untouched.
            return Attempt(vendor.name, phones, Outcome.RATE_LIMITED, "local_rate_limit", 0.0)
        chunk = Chunk(phones, text, next(self._attempt_ids) % 2_000_000_000)
        vendor.health.begin_attempt()
        sent = time.monotonic()
        try:
            async with asyncio.timeout(max(0.001, deadline - sent)):
                answer = await vendor.client.send(chunk)
        except TimeoutError:
            answer = SendResult(Outcome.AMBIGUOUS, "deadline")
        latency = time.monotonic() - sent
        vendor.health.record(answer.outcome, latency)
        if answer.outcome is not Outcome.ACCEPTED:
            log.info(
                "attempt_refused",
                vendor=vendor.name,
                outcome=answer.outcome.value,
                code=answer.raw_code,
                recipients=len(phones),
            )
        return Attempt(
            vendor.name, phones, answer.outcome, answer.raw_code, latency, answer.message_ids
        )


def _why_none(plan: Plan) -> Outcome:
    """The outcome for recipients no vendor was even tried for."""
    if plan.skipped and all(why.startswith(("drained", "no balance")) for _, why in plan.skipped):
        return Outcome.BALANCE_EXHAUSTED
    return Outcome.UNREACHABLE
