"""One connection to a port: requests read in, answered in order, then a graceful close.

The reading half (the head cap, PROXY headers, httptools' callbacks) is
:class:`proxy.http.reading.RequestReader`; this is the protocol itself and
the answering half: pipelined requests queued and answered in order, the
connection's time-outs, ``100 Continue`` when it is the request's turn, and
a graceful close (lingering) after an error answer.  What it gives clients
and withholds from a hostile network is told in :mod:`proxy.http`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools
import structlog

from proxy.http.messages import Answer, HandOut, Request
from proxy.http.reading import BAD_REQUEST, RequestReader

if TYPE_CHECKING:
    from proxy.http.server import HttpServer

# Pipelined requests a connection may queue before we stop reading from it:
# legacy clients hardly pipeline, and each queued request may hold a body.
PIPELINE_DEPTH = 4
# After an error answer: how long, and how much, a client still writing is
# read and dropped before the connection closes (nginx: lingering_timeout).
LINGER_S = 2.0
LINGER_BYTES = 1024 * 1024
# Refused connections lingering at once beyond this are closed without a word:
# a flood must not hold the descriptors the cap exists to keep.
REFUSED_LINGERING_MAX = 256

_TIMEOUT = Answer(408, b"request timeout")


class Connection(RequestReader):
    def __init__(self, server: HttpServer) -> None:
        super().__init__(server)
        self.task: asyncio.Task[None] | None = None
        self.last_active = time.monotonic()
        self._peer = ""
        self._admitted = False
        # (request, keep the connection alive after it, HTTP/1.0), or an error to answer and close.
        self._queue: deque[tuple[Request, bool, bool] | Answer] = deque()
        self._paused = False
        self._served = False
        self._lingering = False
        self._linger_until = 0.0
        self._linger_left = 0

    # --- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's; they have its methods.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._peer = self._remote = str(peer[0]) if peer else ""
        if not self.server.admit(self):
            self._refuse_connection()
            return
        self._admitted = True
        limits = self.server.limits
        if limits.proxy_protocol and limits.trusts(self._peer):
            self._proxy_header = b""
            self._started = time.monotonic()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._admitted:
            self.server.forget(self)
        elif self._lingering:
            self.server.refused_lingering -= 1
            self._lingering = False

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        if self._lingering:
            self._linger_left -= len(data)
            if self._linger_left <= 0:
                self.close()
            return
        if self._broken:
            return
        if self._proxy_header is not None:
            data = self._read_proxy_header(data)
            if not data:
                return
        if not self._line_read and not data.isascii():
            data = self._escape_request_line(data)
        try:
            if self._in_body:
                self._parser.feed_data(data)
            else:
                self._feed_head(data)
        except httptools.HttpParserUpgrade:
            # An Upgrade header may be ignored and the request answered as it
            # is, but what follows it is not HTTP to us: close after the answer.
            self._break()
            if self._in_message:  # CONNECT: no request to answer
                self._fail(BAD_REQUEST, "bad_request")
        except httptools.HttpParserError:
            # Answered 400 once the requests before it are answered; nothing
            # after it can be trusted to be a request.
            if not self._broken:
                self._fail(BAD_REQUEST, "bad_request")
        if self._in_message and not self._in_body and self._started == 0.0:
            self._started = self.last_active

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def check_time(self, now: float) -> None:
        """Close or answer a connection that has kept us waiting too long."""
        if self._lingering:
            if now >= self._linger_until:
                self.close()
            return
        if self.task is not None or self._queue:
            return  # answering: the request's own deadlines apply
        limits = self.server.limits
        if self._in_body:
            if now - self._started > limits.body_timeout_s:
                self._fail(_TIMEOUT, "body_timeout")
        elif self._started:
            if now - self._started > limits.head_timeout_s:
                self._fail(_TIMEOUT, "head_timeout")
        elif now - self.last_active > (
            limits.keepalive_s if self._served else limits.head_timeout_s
        ):
            self.close()

    # --- answering, in order ----------------------------------------------------

    def _break(self) -> None:
        self._broken = True
        self._pause()

    def _fail(self, answer: Answer, reason: str) -> None:
        self.server.refuse(reason)
        self._break()
        self._enqueue(answer)

    def _enqueue(self, item: tuple[Request, bool, bool] | Answer) -> None:
        self._queue.append(item)
        if len(self._queue) >= PIPELINE_DEPTH:
            self._pause()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._answer_queued())

    def _pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _send_continue(self) -> None:
        # Only when it is this request's turn: an interim answer must not
        # come before the answer to a request pipelined ahead of it.
        if self._continue_owed and self.task is None and not self._queue:
            self._continue_owed = False
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _answer_queued(self) -> None:
        try:
            while self._queue:
                queued = self._queue.popleft()
                if self._paused and not self._broken and len(self._queue) < PIPELINE_DEPTH:
                    self._paused = False
                    if self._transport is not None:
                        self._transport.resume_reading()
                if isinstance(queued, Answer):
                    self._write(queued, keep_alive=False)
                    self._linger()
                    return
                request, keep_alive, http10 = queued
                if self._transport is None or self._transport.is_closing():
                    # The client hung up: nobody waits for what it pipelined.
                    self._queue.clear()
                    return
                structlog.contextvars.clear_contextvars()
                answer = await self.server.respond(request)
                # Decided after the answer: shutdown may have begun meanwhile.
                # The last answer before a request we could not read closes too.
                last = self._broken and not self._queue
                keep_alive = keep_alive and not self.server.closing and not last
                with_body = request.method != "HEAD"
                if answer.hand_out is None:
                    self._write(answer, keep_alive, with_body, http10)
                else:
                    # Shielded: a shutdown past its grace cancels the request,
                    # and a batch counted delivered must then still be written.
                    handing = asyncio.ensure_future(
                        self._hand_out(answer.hand_out, answer, keep_alive, with_body, http10)
                    )
                    try:
                        await asyncio.shield(handing)
                    except asyncio.CancelledError:
                        # Not cancelled again by a second cancellation: two
                        # store calls (on Redis, within their timeouts).
                        await asyncio.wait({handing})
                        raise
                self._served = True
                if not keep_alive:
                    if self._broken:
                        self._linger()
                    else:
                        self.close()
                    return
        finally:
            self.task = None
            self.last_active = time.monotonic()
            if self._in_body:
                self._started = self.last_active  # its body's time starts with its turn
                self._send_continue()
            elif self._in_message:
                self._started = self.last_active

    async def _hand_out(
        self, hand_out: HandOut, answer: Answer, keep_alive: bool, with_body: bool, http10: bool
    ) -> None:
        """Write an answer that takes reports or replies out of their queue.

        The batch counts as delivered from just before the write: counted
        after it, a daemon killed in between would hand it out again once
        back, to a client that had it.  Counted before, only a kill in the
        moment from that commit to the write (one turn of the event loop)
        loses it.  A client that hung up meanwhile is not written to, and
        the batch goes back.
        """
        if self._can_write():
            await hand_out.writing()
        await hand_out.settle(self._write(answer, keep_alive, with_body, http10))

    def _can_write(self) -> bool:
        transport = self._transport
        return transport is not None and not transport.is_closing()

    def _write(
        self, answer: Answer, keep_alive: bool, with_body: bool = True, http10: bool = False
    ) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            return False  # the client hung up: a send's effect stands, a batch goes back
        head = self.server.heads.of(
            answer.status, len(answer.body), keep_alive, http10, answer.content_type, answer.headers
        )
        transport.write(head + answer.body if with_body else head)
        return True

    def _linger(self) -> None:
        """Close gracefully: shut our side, drop what the client still writes, then close."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._lingering = True
        self._linger_until = time.monotonic() + LINGER_S
        self._linger_left = LINGER_BYTES
        if not self._admitted:  # the sweeper does not see it: a timer of its own
            asyncio.get_running_loop().call_later(LINGER_S, self.close)
        if self._paused:
            self._paused = False
            transport.resume_reading()

    def _refuse_connection(self) -> None:
        transport = self._transport
        assert transport is not None
        busy = self.server.busy
        transport.write(
            self.server.heads.of(busy.status, len(busy.body), False)[:-2]
            + b"Retry-After: 1\r\n\r\n"
            + busy.body
        )
        if self.server.refused_lingering >= REFUSED_LINGERING_MAX:
            transport.close()
            return
        self.server.refused_lingering += 1
        self._linger()
        if not self._lingering:
            self.server.refused_lingering -= 1
