"""The legacy port's HTTP/1.1 server.

Legacy clients send many small requests, one SMS each as a rule, and the
benchmark of issue #7 found aiohttp's general web server (request and
response objects, router, middleware chain) costing more CPU per send than
all of smsproxy's own work.  esms100 needs little of HTTP: GET or POST to
five paths, a form in the query or the body, a short GBK text answer.  So
this port is an :class:`asyncio.Protocol` over httptools (llhttp, Node.js's
parser, as uvicorn uses it) that hands its responder the method, path, raw
query, body and client address and writes back one text answer.

What clients get:

- keep-alive and pipelining (answers in request order), HTTP/1.0 (with
  ``Connection: keep-alive`` when it asked for it) and 1.1, chunked request
  bodies, and ``Expect: 100-continue`` answered for HTTP/1.1 only and only
  when every request before it on the connection has been answered;
- raw 8-bit bytes in the query (older clients write GBK into the URL without
  percent-encoding it, and a Tomcat or IIS esms100 takes them) are read as if
  percent-encoded;
- a request line or body beyond ``max_body_bytes`` reaches the responder
  marked ``oversize`` (esms100's ``-8``) as soon as it is seen, a declared
  ``Content-Length`` included, and the connection closes after the answer;
- malformed HTTP gets ``400`` and the connection closes.

What a hostile network gets (:class:`Limits`, the ``[http]`` settings, as
nginx's defaults): headers (the request line not counted) are capped while
they arrive (``431``: httptools would otherwise keep a header line that
never ends, and rebuild it at every read); a head must arrive within
``head_timeout_s`` and a body within ``body_timeout_s`` (``408``); an idle
connection closes after ``keepalive_s``; beyond ``max_connections`` a new
connection is answered ``503`` at once and closed.  After an error answer
the connection is closed gracefully: our side is shut, and what the client
still writes is read and dropped for a moment, so it reads the answer
instead of a reset.

Behind a load balancer (``listen.trusted_proxies``) the client is the one
a PROXY header (v1 or v2, when ``listen.proxy_protocol``) or an
``X-Forwarded-For`` written by a trusted hop names; from anyone else both
are ignored.

On :meth:`LegacyServer.close` nothing new is accepted, requests in flight
get the grace period to finish (then are cancelled), idle connections close
at once.

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
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from ipaddress import IPv4Network, IPv6Network, ip_address
from types import MappingProxyType
from typing import NamedTuple, cast

import httptools
import structlog

from proxy.loops import Loop
from proxy.proxy_header import ProxyHeaderError, read_proxy_header

log = structlog.get_logger("smsproxy.legacy_http")

# Pipelined requests a connection may queue before we stop reading from it:
# legacy clients hardly pipeline, and each queued request may hold a body.
PIPELINE_DEPTH = 4
# After an error answer: how long, and how much, a client still writing is
# read and dropped before the connection closes (nginx: lingering_timeout).
LINGER_S = 2.0
LINGER_BYTES = 1024 * 1024
# A PROXY header is at most this long (v2 with its TLVs, bounded in proxy_header).
PROXY_HEADER_MAX = 16 + 1024
# Refused connections lingering at once beyond this are closed without a word:
# a flood must not hold the descriptors the cap exists to keep.
REFUSED_LINGERING_MAX = 256
REFUSALS_LOGGED_EVERY_S = 10.0

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")

Network = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Limits:
    """What one connection may cost; the ``[http]`` and ``[listen]`` settings."""

    max_head_bytes: int = 16 * 1024
    head_timeout_s: float = 60.0
    body_timeout_s: float = 60.0
    keepalive_s: float = 75.0
    max_connections: int = 4096
    trusted_proxies: tuple[Network, ...] = ()
    proxy_protocol: bool = False

    def trusts(self, address: str) -> bool:
        if not self.trusted_proxies:
            return False
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in net for net in self.trusted_proxies)

    def client_of(self, peer: str, forwarded_for: bytes) -> str:
        """The client an ``X-Forwarded-For`` names: the nearest hop we do not trust."""
        client = peer
        for hop in reversed(forwarded_for.split(b",")):
            if not self.trusts(client):
                break
            try:
                client = str(ip_address(hop.strip().decode("ascii")))
            except (UnicodeDecodeError, ValueError):
                break  # what a trusted hop did not write cannot be read
        return client


class LegacyRequest(NamedTuple):
    method: str
    path: str
    query: bytes  # exactly as sent, still percent-encoded
    body: bytes
    remote: str  # the client: the peer, or who a trusted proxy says it is
    oversize: bool  # the request line or body went beyond max_body_bytes: both dropped
    # The headers the server was asked to keep (``keep_headers``), by lower-case name.
    headers: Mapping[bytes, bytes] = MappingProxyType({})


class Answer(NamedTuple):
    status: int
    body: bytes
    # Told whether the answer reached the client's connection: what the
    # request took (reports, replies) goes back if it did not.
    settle: Callable[[bool], Awaitable[None]] | None = None
    content_type: bytes | None = None  # None: the server's
    headers: bytes = b""  # more header lines, each ending in CRLF


Responder = Callable[[LegacyRequest], Awaitable[Answer]]
# Why a connection or request was refused; told to the server's RefusalHook.
REFUSALS = (
    "connections",
    "head_too_large",
    "head_timeout",
    "body_timeout",
    "bad_request",
    "proxy_header",
)
RefusalHook = Callable[[str], None]

_BAD_REQUEST = Answer(400, b"bad request")
_HEAD_TOO_LARGE = Answer(431, b"request headers too large")
_TIMEOUT = Answer(408, b"request timeout")
_BUSY = Answer(503, b"busy")
_NO_HEADERS: Mapping[bytes, bytes] = MappingProxyType({})


def _ignore(reason: str) -> None:
    pass


class LegacyServer:
    def __init__(
        self,
        respond: Responder,
        *,
        max_body_bytes: int,
        content_type: bytes = b"text/plain; charset=gbk",
        limits: Limits | None = None,
        busy: Answer = _BUSY,
        on_refusal: RefusalHook = _ignore,
        keep_headers: frozenset[bytes] = frozenset(),
    ) -> None:
        self.respond = respond
        self.max_body_bytes = max_body_bytes
        self.limits = limits or Limits()
        self.busy = busy
        self.on_refusal = on_refusal
        self.keep_headers = keep_headers
        self.closing = False
        self._content_type = content_type
        self._connections: set[_Connection] = set()
        self._listener: asyncio.Server | None = None
        self._sweeper: Loop | None = None
        self._date = b""
        self._date_second = 0
        self.refused_lingering = 0
        self._refused_unlogged = 0
        self._refusal_logged = 0.0

    def __repr__(self) -> str:
        return f"<LegacyServer connections={len(self._connections)} closing={self.closing}>"

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def listen(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _Connection(self), host or None, port, reuse_address=True, backlog=1024
        )
        self._sweeper = self._sweeps()
        self._sweeper.start()
        return int(self._listener.sockets[0].getsockname()[1])

    async def close(self, grace_s: float) -> None:
        """Stop accepting, let requests in flight finish within ``grace_s``, close the rest."""
        self.closing = True
        if self._listener is not None:
            self._listener.close()
        if self._sweeper is not None:
            await self._sweeper.cancel()
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

    def head(
        self,
        status: int,
        length: int,
        keep_alive: bool,
        http10: bool = False,
        content_type: bytes | None = None,
        extra: bytes = b"",
    ) -> bytes:
        second = int(time.time())
        if second != self._date_second:  # formatting a date costs more than the rest of a head
            self._date = formatdate(second, usegmt=True).encode("ascii")
            self._date_second = second
        if not keep_alive:
            connection = b"Connection: close\r\n"
        else:
            # HTTP/1.0 closes unless told otherwise, even when it asked to keep alive.
            connection = b"Connection: keep-alive\r\n" if http10 else b""
        return (
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n%s%s\r\n"
            % (
                status,
                _REASONS.get(status, b""),
                content_type or self._content_type,
                length,
                self._date,
                connection,
                extra,
            )
        )

    def admit(self, conn: _Connection) -> bool:
        """Track a new connection; False when the port is full and it must be refused."""
        if len(self._connections) >= self.limits.max_connections or self.closing:
            self.refuse("connections")
            return False
        self._connections.add(conn)
        return True

    def forget(self, conn: _Connection) -> None:
        self._connections.discard(conn)

    def refuse(self, reason: str) -> None:
        self.on_refusal(reason)
        if reason != "connections":
            return
        # One line per interval, not one per connection: a flood must not flood the log.
        self._refused_unlogged += 1
        now = time.monotonic()
        if now - self._refusal_logged >= REFUSALS_LOGGED_EVERY_S:
            log.warning(
                "connections_refused",
                count=self._refused_unlogged,
                open=len(self._connections),
                max_connections=self.limits.max_connections,
            )
            self._refused_unlogged = 0
            self._refusal_logged = now

    def _sweeps(self) -> Loop:
        # One sweep for all connections costs less than a timer per request.
        limits = self.limits
        shortest = min(limits.keepalive_s, limits.head_timeout_s, limits.body_timeout_s, LINGER_S)
        every = max(0.02, min(1.0, shortest / 4))

        async def sweep() -> None:
            now = time.monotonic()
            for conn in list(self._connections):
                conn.check_time(now)

        return Loop("http-sweep", sweep, every_s=every, first_s=every)


class _Connection(asyncio.Protocol):
    def __init__(self, server: LegacyServer) -> None:
        self.server = server
        self.task: asyncio.Task[None] | None = None
        self.last_active = time.monotonic()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._peer = ""
        self._remote = ""
        self._admitted = False
        # (request, keep the connection alive after it, HTTP/1.0), or an error to answer and close.
        self._queue: deque[tuple[LegacyRequest, bool, bool] | Answer] = deque()
        self._paused = False
        self._broken = False  # nothing more is read as HTTP: an error or an early answer is due
        self._served = False
        self._lingering = False
        self._linger_until = 0.0
        self._linger_left = 0
        self._proxy_header: bytes | None = None  # bytes of a PROXY header still being read
        # The request being read.
        self._in_message = False
        self._in_body = False
        self._line_read = False  # its request line is behind us
        self._started = 0.0  # when its head (or its body) began to arrive
        self._head_seen = 0
        self._url: list[bytes] = []
        self._url_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._oversize = False
        self._expects_continue = False
        self._continue_owed = False
        self._forwarded_for = b""
        self._headers: dict[bytes, bytes] | None = None

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
                self._fail(_BAD_REQUEST, "bad_request")
        except httptools.HttpParserError:
            # Answered 400 once the requests before it are answered; nothing
            # after it can be trusted to be a request.
            if not self._broken:
                self._fail(_BAD_REQUEST, "bad_request")
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

    # --- reading ------------------------------------------------------------------

    def _feed_head(self, data: bytes) -> None:
        # httptools keeps a header line until it ends, rebuilding it at every
        # read: a line that never ends costs memory and quadratic time.  So
        # the head is fed a slice at a time and capped as it arrives.  Bytes
        # of a body or of the next request that ride in the last slice go
        # uncounted: a head may reach twice the cap, never more.
        cap = self.server.limits.max_head_bytes
        while data:
            if self._in_body or self._broken:
                if not self._broken:
                    self._parser.feed_data(data)
                return
            room = cap - self._head_seen
            if room <= 0:
                self._fail(_HEAD_TOO_LARGE, "head_too_large")
                return
            if len(data) <= room:
                self._head_seen += len(data)
                self._parser.feed_data(data)
                return
            piece, data = data[:room], data[room:]
            self._head_seen += room
            self._parser.feed_data(piece)

    def _escape_request_line(self, data: bytes) -> bytes:
        # llhttp refuses bytes above 0x7f in a URL; a client that writes GBK
        # unescaped means them percent-encoded, and the query is decoded so.
        start = len(data) - len(data.lstrip(b"\r\n"))
        end = data.find(b"\n", start)
        line = data[start:] if end < 0 else data[start:end]
        escaped = _HIGH_BYTE.sub(lambda m: b"%%%02X" % m.group()[0], line)
        return data[:start] + escaped + (b"" if end < 0 else data[end:])

    def _read_proxy_header(self, data: bytes) -> bytes:
        assert self._proxy_header is not None
        buffered = self._proxy_header + data
        try:
            header = read_proxy_header(buffered)
        except ProxyHeaderError:
            header = None
            buffered = b""
        if header is None:
            if buffered and len(buffered) < PROXY_HEADER_MAX:
                self._proxy_header = buffered
                return b""
            # A trusted proxy that sends no header is not the proxy we trust.
            self.server.refuse("proxy_header")
            self._proxy_header = None
            self._break()
            self.close()
            return b""
        self._proxy_header = None
        self._started = 0.0
        if header.source is not None:
            self._remote = header.source
        return buffered[header.length :]

    # --- httptools callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = []
        self._url_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._oversize = False
        self._expects_continue = False
        self._forwarded_for = b""
        self._headers = None

    def on_url(self, url: bytes) -> None:
        # The request line is not the head's to count: max_body_bytes bounds it.
        self._head_seen -= len(url)
        if self._oversize or self._broken:
            return
        self._url_bytes += len(url)
        self._url.append(url)
        if self._url_bytes > self.server.max_body_bytes:
            # The path, at its start, is kept to tell the endpoint; the query goes.
            self._oversize = True
            self._url = [b"".join(self._url)[: self.server.max_body_bytes]]
            self._answer_early()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._line_read = True
        if len(name) == 6 and name.lower() == b"expect" and value.lower() == b"100-continue":
            self._expects_continue = True
        elif len(name) == 14 and name.lower() == b"content-length":
            if value.isdigit() and int(value) > self.server.max_body_bytes:
                self._oversize = True
        elif len(name) == 15 and name.lower() == b"x-forwarded-for":
            self._forwarded_for = (
                self._forwarded_for + b"," + value if self._forwarded_for else value
            )
        keep = self.server.keep_headers
        if keep and name.lower() in keep:
            if self._headers is None:
                self._headers = {}
            self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        if self._broken:
            return
        self._line_read = True
        self._head_seen = 0
        self._in_body = True
        self._started = time.monotonic()
        if self._oversize:
            self._answer_early()  # a declared body too large is not waited for
            return
        if self._expects_continue and self._parser.get_http_version() == "1.1":
            self._continue_owed = True
            self._send_continue()

    def on_body(self, body: bytes) -> None:
        if self._oversize or self._broken:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.server.max_body_bytes:
            self._oversize = True
            self._body = []
            self._answer_early()
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._in_body = False
        self._line_read = False
        self._started = 0.0
        self._head_seen = 0
        self._continue_owed = False
        if self._broken:
            return
        # Read now: the parser has moved on by the time the request is answered.
        http10 = self._parser.get_http_version() == "1.0"
        request = self._request()
        if request is None:
            self._fail(_BAD_REQUEST, "bad_request")
        else:
            self._enqueue((request, self._parser.should_keep_alive(), http10))

    def _request(self) -> LegacyRequest | None:
        url = b"".join(self._url)
        if url[:1] != b"/" and url:
            # Absolute form (a client configured to go through an HTTP proxy);
            # CONNECT's authority form is not a request we serve.
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                return None
            path, query = parsed.path or b"/", parsed.query or b""
        else:
            path, _, query = url.partition(b"?")
        if self._oversize:
            query = b""
        remote = self._remote
        if self._forwarded_for and self.server.limits.trusted_proxies:
            remote = self.server.limits.client_of(remote, self._forwarded_for)
        request = LegacyRequest(
            self._parser.get_method().decode("ascii"),
            path.decode("latin-1"),
            query,
            b"".join(self._body),
            remote,
            self._oversize,
            _NO_HEADERS if self._headers is None else MappingProxyType(self._headers),
        )
        self._url = []
        self._body = []
        return request

    def _answer_early(self) -> None:
        """Too large: answer now and stop reading; the client is not waited for."""
        self._break()
        request = self._request()
        self._enqueue(_BAD_REQUEST if request is None else (request, False, False))

    # --- answering, in order ----------------------------------------------------

    def _break(self) -> None:
        self._broken = True
        self._pause()

    def _fail(self, answer: Answer, reason: str) -> None:
        self.server.refuse(reason)
        self._break()
        self._enqueue(answer)

    def _enqueue(self, item: tuple[LegacyRequest, bool, bool] | Answer) -> None:
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
                written = self._write(answer, keep_alive, request.method != "HEAD", http10)
                self._served = True
                if answer.settle is not None:
                    await answer.settle(written)
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

    def _write(
        self, answer: Answer, keep_alive: bool, with_body: bool = True, http10: bool = False
    ) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            return False  # the client hung up: a send's effect stands, a batch goes back
        head = self.server.head(
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
            self.server.head(busy.status, len(busy.body), False)[:-2]
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
