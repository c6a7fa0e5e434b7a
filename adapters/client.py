"""One configured vendor at run time: its adapter over its transport.

This is the boundary the design notes ask for.  Routing knows it as a
:class:`core.send.SendClient`: it calls :meth:`VendorClient.prepare` and
:meth:`VendorClient.complete` and gets a :class:`SendResult` back, always: a
transport failure, a parse that breaks its contract, anything, becomes an
outcome here and nothing foreign leaks upward.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import structlog

from adapters.base import Adapter, BalanceResult, PollResult
from adapters.transport import TransportFailure, VendorTransport
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend, SendResult, VendorLimits

log = structlog.get_logger("smsproxy.vendor")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class VendorClient:
    def __init__(
        self,
        name: str,
        adapter: Adapter,
        transport: VendorTransport,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.name = name
        self.adapter = adapter
        self.transport = transport
        self._clock_ms = clock_ms

    def __repr__(self) -> str:
        return f"<VendorClient {self.name} {self.adapter.kind}>"

    @property
    def limits(self) -> VendorLimits:
        return self.adapter.limits

    async def send(self, chunk: Chunk) -> SendResult:
        prepared = self.prepare(chunk)
        if isinstance(prepared, SendResult):
            return prepared
        return await self.complete(prepared)

    def prepare(self, chunk: Chunk) -> PreparedSend | SendResult:
        """The request for ``chunk``, with the ids we chose for it; a SendResult if none."""
        try:
            return self.adapter.build_send(chunk, self._clock_ms())
        except Exception:  # a bug of ours: the request was never sent
            log.exception("build_send_failed", vendor=self.name)
            return SendResult(Outcome.REQUEST_INVALID, "build_error")

    async def complete(self, prepared: PreparedSend) -> SendResult:
        """Send a prepared request and say what its answer means."""
        answer = await self.transport.exchange(prepared.request)
        if isinstance(answer, TransportFailure):
            return SendResult(answer.outcome, answer.reason)
        try:
            return self.adapter.parse_send(prepared, answer)
        except Exception:
            log.exception("parse_send_failed", vendor=self.name, status=answer.status)
            return SendResult(Outcome.AMBIGUOUS, "parse_error", malformed=True)

    async def balance(self) -> BalanceResult | None:
        """None when the vendor has no balance query."""
        request = self.adapter.build_balance(self._clock_ms())
        if request is None:
            return None
        answer = await self.transport.exchange(request)
        if isinstance(answer, TransportFailure):
            return BalanceResult(answer.outcome, answer.reason)
        try:
            return self.adapter.parse_balance(answer)
        except Exception:
            log.exception("parse_balance_failed", vendor=self.name)
            return BalanceResult(Outcome.VENDOR_BUSY, "parse_error", malformed=True)

    async def poll_reports(self) -> PollResult | None:
        fetched = await self.fetch_poll("reports")
        return None if fetched is None else self.read_poll(*fetched)

    async def poll_replies(self) -> PollResult | None:
        fetched = await self.fetch_poll("replies")
        return None if fetched is None else self.read_poll(*fetched)

    async def fetch_poll(
        self, what: Literal["reports", "replies"]
    ) -> tuple[HttpRequest, HttpResponse | TransportFailure] | None:
        """The poll's request and its raw answer; None when the vendor is not polled for it.

        Apart from :meth:`read_poll` so that the caller can keep the answer
        before anything else happens to it: the vendor hands it out once.
        """
        adapter = self.adapter
        build = adapter.build_report_poll if what == "reports" else adapter.build_reply_poll
        request = build(self._clock_ms())
        if request is None:
            return None
        return request, await self.transport.exchange(request)

    def read_poll(
        self, request: HttpRequest, answer: HttpResponse | TransportFailure
    ) -> PollResult:
        if isinstance(answer, TransportFailure):
            return PollResult(answer.outcome, answer.reason)
        try:
            return self.adapter.parse_poll(request, answer)
        except Exception:
            log.exception("parse_poll_failed", vendor=self.name)
            return PollResult(Outcome.VENDOR_BUSY, "parse_error", malformed=True)
