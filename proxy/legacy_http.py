"""The legacy port's HTTP/1.1 server.

Legacy clients send many small requests, one SMS each as a rule, and the
benchmark of issue #7 found aiohttp's general web server (request and
response objects, router, middleware chain) costing more CPU per send than
all of smsproxy's own work.  esms100 needs little of HTTP: GET or POST to
five paths, a form in the query or the body, a short GBK text answer.  So
this port is an :class:`asyncio.Protocol` over httptools (llhttp, Node.js's
parser, as uvicorn uses it) that hands its responder the method, path, raw
query, body and peer address and writes back one text answer.  The admin
and push ports stay on aiohttp: little traffic, and they use its features.

What clients get:

- keep-alive and pipelining (answers in request order), HTTP/1.0 and 1.1,
  ``Expect: 100-continue``, chunked request bodies;
- a request line or body beyond ``max_body_bytes`` is read and dropped, and
  the request reaches the responder marked ``oversize`` (esms100's ``-8``),
  where a general server would only have a 400 or 413 to give;
- malformed HTTP gets ``400`` and the connection closes;
- a connection idle for ``keepalive_s`` closes;
- on :meth:`LegacyServer.close` nothing new is accepted, requests in flight
  get the grace period to finish (then are cancelled), idle connections
  close at once.

A client that hangs up does not cancel its request: a send under way goes
on to its vendor and its records, so a retry finds it done.  An answer that
cannot be written (the connection is gone) is told so through its
:attr:`Answer.settle`, so what the request took goes back; requests the
client pipelined behind it are not run at all.  What remains: an answer
written to a connection whose peer is gone but not yet seen gone, or to a
client that times out before reading it, counts as delivered.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import NamedTuple, cast

import httptools
import structlog

log = structlog.get_logger("smsproxy.legacy_http")

# Pipelined requests a connection may queue before we stop reading from it:
# legacy clients hardly pipeline, and each queued request may hold a body.
PIPELINE_DEPTH = 4
# Request headers beyond this are not an esms100 client's.
MAX_HEAD_BYTES = 64 * 1024
KEEPALIVE_S = 75.0  # aiohttp's default, which legacy clients met before

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}


class LegacyRequest(NamedTuple):
    method: str
    path: str
    query: bytes  # exactly as sent, still percent-encoded
    body: bytes
    remote: str
    oversize: bool  # the request line or body went beyond max_body_bytes: both dropped


class Answer(NamedTuple):
    status: int
    body: bytes
    # Told whether the answer reached the client's connection: what the
    # request took (reports, replies) goes back if it did not.
    settle: Callable[[bool], Awaitable[None]] | None = None


Responder = Callable[[LegacyRequest], Awaitable[Answer]]


class _HeadTooLarge(Exception):
    pass


class LegacyServer:
    def __init__(
        self,
        respond: Responder,
        *,
        max_body_bytes: int,
        content_type: bytes = b"text/plain; charset=gbk",
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.respond = respond
        self.max_body_bytes = max_body_bytes
        self.keepalive_s = keepalive_s
        self.closing = False
        self._content_type = content_type
        self._connections: set[_Connection] = set()
        self._listener: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._date = b""
        self._date_second = 0

    def __repr__(self) -> str:
        return f"<LegacyServer connections={len(self._connections)} closing={self.closing}>"

    async def listen(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _Connection(self), host or None, port, reuse_address=True
        )
        self._sweeper = asyncio.create_task(self._sweep_idle(), name="legacy-idle-sweep")
        return int(self._listener.sockets[0].getsockname()[1])

    async def close(self, grace_s: float) -> None:
        """Stop accepting, let requests in flight finish within ``grace_s``, close the rest."""
        self.closing = True
        if self._listener is not None:
            self._listener.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        busy = []
        for conn in list(self._connections):
            if conn.task is None:
                conn.close()
            else:
                busy.append(conn.task)
        if busy:
            _, late = await asyncio.wait(busy, timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                log.warning("requests_cancelled_at_shutdown", count=len(late))
                await asyncio.wait(late)
        for conn in list(self._connections):
            conn.close()
        if self._listener is not None:
            await self._listener.wait_closed()

    def head(self, status: int, length: int, keep_alive: bool) -> bytes:
        second = int(time.time())
        if second != self._date_second:  # formatting a date costs more than the rest of a head
            self._date = formatdate(second, usegmt=True).encode("ascii")
            self._date_second = second
        return b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n%s\r\n" % (
            status,
            _REASONS.get(status, b""),
            self._content_type,
            length,
            self._date,
            b"" if keep_alive else b"Connection: close\r\n",
        )

    def track(self, conn: _Connection, open_: bool) -> None:
        if open_:
            self._connections.add(conn)
        else:
            self._connections.discard(conn)

    async def _sweep_idle(self) -> None:
        # One sweep for all connections costs less than a timer per request.
        every = max(0.05, min(5.0, self.keepalive_s / 4))
        while True:
            await asyncio.sleep(every)
            cutoff = time.monotonic() - self.keepalive_s
            for conn in list(self._connections):
                if conn.task is None and conn.last_active < cutoff:
                    conn.close()


class _Connection(asyncio.Protocol):
    def __init__(self, server: LegacyServer) -> None:
        self.server = server
        self.task: asyncio.Task[None] | None = None
        self.last_active = time.monotonic()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._remote = ""
        # (request, keep the connection alive after it); None for one the parser could not read.
        self._queue: deque[tuple[LegacyRequest, bool] | None] = deque()
        self._paused = False
        self._broken = False
        # The request being parsed.
        self._url: list[bytes] = []
        self._url_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._head_bytes = 0
        self._oversize = False
        self._in_message = False

    # --- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's; they have its methods.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if peer else ""
        self.server.track(self, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.server.track(self, False)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        if self._broken:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An Upgrade header may be ignored and the request answered as it
            # is, but what follows it is not HTTP to us: close after the answer.
            self._broken = True
            self._pause()
            if self._in_message:  # CONNECT: no request to answer
                self._enqueue(None)
        except httptools.HttpParserError:
            # Answered 400 once the requests before it are answered; nothing
            # after it can be trusted to be a request.
            self._broken = True
            self._pause()
            self._enqueue(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # --- httptools callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = []
        self._url_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._head_bytes = 0
        self._oversize = False

    def on_url(self, url: bytes) -> None:
        if self._oversize:
            return
        self._url_bytes += len(url)
        self._url.append(url)
        if self._url_bytes > self.server.max_body_bytes:
            # The path, at its start, is kept to tell the endpoint; the query goes.
            self._oversize = True
            self._url = [b"".join(self._url)[: self.server.max_body_bytes]]

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge
        if (
            len(name) == 6
            and name.lower() == b"expect"
            and value.lower() == b"100-continue"
            and self._transport is not None
        ):
            # Taken whatever its size: a body too large is read and dropped.
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._oversize:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.server.max_body_bytes:
            self._oversize = True
            self._body = []
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        url = b"".join(self._url)
        if url[:1] != b"/" and url:
            # Absolute form (a client configured to go through an HTTP proxy).
            parsed = httptools.parse_url(url)
            path, query = parsed.path or b"/", parsed.query or b""
        else:
            path, _, query = url.partition(b"?")
        if self._oversize:
            query = b""
        request = LegacyRequest(
            self._parser.get_method().decode("ascii"),
            path.decode("latin-1"),
            query,
            b"".join(self._body),
            self._remote,
            self._oversize,
        )
        self._url = []
        self._body = []
        # Read now: the parser has moved on by the time the request is answered.
        self._enqueue((request, self._parser.should_keep_alive()))

    # --- answering, in order ----------------------------------------------------

    def _enqueue(self, request: tuple[LegacyRequest, bool] | None) -> None:
        self._queue.append(request)
        if len(self._queue) >= PIPELINE_DEPTH:
            self._pause()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._answer_queued())

    def _last_good(self) -> bool:
        return self._broken and not self._queue

    def _pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    async def _answer_queued(self) -> None:
        try:
            while self._queue:
                queued = self._queue.popleft()
                if self._paused and not self._broken and len(self._queue) < PIPELINE_DEPTH:
                    self._paused = False
                    if self._transport is not None:
                        self._transport.resume_reading()
                if queued is None:
                    self._write(Answer(400, b"bad request"), keep_alive=False)
                    self.close()
                    return
                request, keep_alive = queued
                if self._transport is None or self._transport.is_closing():
                    # The client hung up: nobody waits for what it pipelined.
                    self._queue.clear()
                    return
                structlog.contextvars.clear_contextvars()
                answer = await self.server.respond(request)
                # Decided after the answer: shutdown may have begun meanwhile.
                # The last answer before a request we could not read closes too.
                keep_alive = keep_alive and not self.server.closing and not self._last_good()
                written = self._write(answer, keep_alive, with_body=request.method != "HEAD")
                if answer.settle is not None:
                    await answer.settle(written)
                if not keep_alive:
                    self.close()
                    return
        finally:
            self.task = None
            self.last_active = time.monotonic()

    def _write(self, answer: Answer, keep_alive: bool, with_body: bool = True) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            return False  # the client hung up: a send's effect stands, a batch goes back
        head = self.server.head(answer.status, len(answer.body), keep_alive)
        transport.write(head + answer.body if with_body else head)
        return True
