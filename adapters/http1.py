"""An HTTP/1.1 keep-alive client for vendors: one connection pool per origin.

Vendor calls are the daemon's busiest I/O, and a general-purpose client
(URL objects, header multidicts, a task and a stream reader per response)
cost more CPU than the rest of a send's handling together.  What a vendor
call needs is small: a request built from cached bytes, a response parsed
by llhttp (``httptools``), and a pool of kept-alive connections.

:class:`VendorHttp` is owned by the application and closed on shutdown; it
holds one :class:`Origin` per (scheme, host, port), which holds at most
``limit_per_host`` connections: extra callers queue first come, first
served.  Idle connections are reused newest first, so under light load the
oldest go idle long enough to be closed after ``idle_s``; a connection the
peer closed is never handed out, not even when its end has reached the
socket but not yet the event loop.  A kept-alive connection found dead
before the request was written is replaced by a fresh one: it says nothing
about the vendor.

An origin may be reached through an egress proxy (``http://`` only): an
``http`` vendor's requests then go to the proxy in absolute form
(``POST http://host:port/path``), one connection each, an ``https`` vendor's
through a kept-alive tunnel the
proxy opens on ``CONNECT host:port`` (:mod:`adapters.tunnel`), in which TLS
runs end to end with the vendor.  Opening the tunnel is part of connecting:
bounded by the connect time-out, and a proxy's refusal is a
:class:`ProxyRefused`, with nothing sent to the vendor.

Failures are exceptions, split by whether the request can have reached the
peer: :class:`ConnectError` (not one byte of it written) against the others
(bytes left).
"""

from __future__ import annotations

import asyncio
import select
import ssl
from collections import deque
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

import httptools

from adapters.tunnel import ConnectAnswer, TunnelError, authority, connect_request
from config.egress import EgressProxy, ProxyEnvironment
from core.send import HttpResponse

# Bodies larger than this are not a vendor answer we could use.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
DEFAULT_LIMIT_PER_HOST = 200
# Below common servers' keep-alive time-outs (nginx: 75 s); a server that
# closes sooner is seen closing (EOF) and its connection is not reused.
DEFAULT_IDLE_S = 15.0
_USER_AGENT = b"User-Agent: smsproxy\r\n"


class HttpError(Exception):
    """An exchange failed: after a :class:`ConnectError` nothing was sent, after the rest
    the request may have reached the peer."""


class ConnectError(HttpError):
    """No connection: nothing was sent (refused, DNS, TLS handshake, pool closed)."""


class TlsVerifyError(ConnectError):
    """The peer's certificate did not verify: nothing was sent, and retrying will not help."""


class NotSent(ConnectError):
    """The connection failed before a byte of the request was written."""


class ConnectTimeout(ConnectError):
    """No connection, or no free pooled one, in time: nothing was sent."""


class ProxyRefused(ConnectError):
    """The egress proxy refused to carry the request (its answer to ``CONNECT``, or
    a ``407`` to a proxied http request): nothing reached the vendor."""

    def __init__(self, status: int, proxy: str, target: str) -> None:
        # The proxy's address only: its credentials are a secret.
        super().__init__(f"proxy {proxy} answered {status} for {target}")
        self.status = status


class ResponseTimeout(HttpError):
    """The request was written and no complete answer came in time."""


class Disconnected(HttpError):
    """The peer closed or reset the connection before a complete answer."""


class ProtocolError(HttpError):
    """The answer was not HTTP we accept: unparseable, or its body too large."""


class InvalidRequest(ValueError):
    """A request target that would not be one line of HTTP; never sent."""


class _Conn(asyncio.Protocol):
    """One connection; at most one exchange in flight on it."""

    __slots__ = (
        "_body",
        "_body_size",
        "_content_type",
        "_framed",
        "_gone",
        "_headers_done",
        "_idle_since",
        "_keep_alive",
        "_loop",
        "_lost",
        "_origin",
        "_parser",
        "_poller",
        "_status",
        "_timer",
        "_transport",
        "_waiter",
    )

    def __init__(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self._origin = origin
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._poller: select.poll | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # True once the peer closed, the connection broke, or we closed it.
        self._gone = False
        # True only between a complete answer the peer lets us follow up and the next request.
        self._keep_alive = False
        self._idle_since = 0.0
        self._lost: asyncio.Future[None] | None = None
        self._status = 0
        self._headers_done = False
        self._framed = False
        self._content_type = ""
        self._body: list[bytes] = []
        self._body_size = 0

    # -- the pool's side -------------------------------------------------

    @property
    def reusable(self) -> bool:
        return self._keep_alive and not self._gone and self._waiter is None

    def peer_spoke(self) -> bool:
        """Has an idle connection bytes, an end or an error the loop has not read yet?

        The loop reads them only on its next turn, and a request written now
        would go to a peer that is gone; nothing is owed on an idle
        connection, so anything readable means it can not be used.
        """
        poller = self._poller
        return poller is not None and not self._gone and bool(poller.poll(0))

    def exchange(self, data: bytes, deadline: float) -> asyncio.Future[HttpResponse]:
        waiter: asyncio.Future[HttpResponse] = self._loop.create_future()
        self._keep_alive = False
        transport = self._transport
        if self._gone or transport is None or transport.is_closing():
            waiter.set_exception(NotSent("connection closed before the request"))
            return waiter
        self._waiter = waiter
        self._timer = self._loop.call_at(deadline, self._timed_out)
        transport.write(data)
        if transport.is_closing():
            # The transport tries the socket at once and buffers only what the
            # socket did not take; closing now means the first send failed
            # outright, so not one byte of the request left.
            self._fail(NotSent("the request's first write failed"))
            self.close()
        return waiter

    def close(self) -> None:
        if self._waiter is not None:
            self._fail(Disconnected("connection closed by the client"))
        self._gone = True
        self._keep_alive = False
        if self._transport is not None:
            # Abort, not close: an unfinished exchange must not be answered
            # later, and a vendor needs no graceful goodbye.
            self._transport.abort()

    def lost(self) -> asyncio.Future[None]:
        """Done once the transport is gone (at once if there never was one)."""
        if self._lost is None:
            self._lost = self._loop.create_future()
            if self._transport is None:
                self._lost.set_result(None)
        return self._lost

    # -- asyncio.Protocol ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's; they have its methods.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        poll = getattr(select, "poll", None)  # not on Windows: the loop's own check stands
        if sock is not None and poll is not None:
            self._poller = poll()
            self._poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes nobody asked for: the stream can no longer be trusted.
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(ProtocolError(f"bad response: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        self._peer_gone(None)
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._peer_gone(exc)
        self._transport = None
        self._poller = None  # its descriptor may soon be another socket's
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _peer_gone(self, exc: Exception | None) -> None:
        was_idle = not self._gone and self._waiter is None and self._keep_alive
        self._gone = True
        self._keep_alive = False
        if self._waiter is not None:
            if self._headers_done and not self._framed:
                # A body delimited by the end of the connection ends here.
                self._finish()
            else:
                self._fail(Disconnected(str(exc) if exc else "connection closed by peer"))
        elif was_idle:
            self._origin._forget_idle(self)

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(ResponseTimeout("no complete answer in time"))
        self.close()

    def _fail(self, exc: HttpError) -> None:
        waiter = self._waiter
        self._waiter = None
        self._keep_alive = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _finish(self) -> None:
        waiter = self._waiter
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(self._status, b"".join(self._body), self._content_type))

    # -- httptools callbacks --------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None:
            raise ProtocolError("a response nobody asked for")
        self._status = 0
        self._headers_done = False
        self._framed = False
        self._content_type = ""
        self._body = []
        self._body_size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._headers_done:
            return  # a chunked trailer: nothing we use
        size = len(name)
        if size == 12:
            if name.lower() == b"content-type":
                self._content_type = value.decode("latin-1")
        elif size == 14:
            if name.lower() == b"content-length":
                self._framed = True
        elif size == 17 and name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive() and self._origin._reuse

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > MAX_RESPONSE_BYTES:
            self._fail(ProtocolError(f"response body over {MAX_RESPONSE_BYTES} bytes"))
            self.close()
            raise ProtocolError("body too large")  # stops the parser
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:
            # An interim answer (100 Continue, 103): the real one follows.
            self._headers_done = False
            return
        keep_alive = self._keep_alive
        self._finish()
        # _finish clears the waiter; the answer's own keep-alive verdict stands.
        self._keep_alive = keep_alive and not self._gone


class _ProxyHandshake(asyncio.Protocol):
    """A connection to the egress proxy until it answers ``CONNECT``."""

    __slots__ = ("_proxy", "_reader", "answer", "broken")

    def __init__(self, loop: asyncio.AbstractEventLoop, proxy: str) -> None:
        self._proxy = proxy
        self._reader = ConnectAnswer()
        # The proxy's final status, once its answer's head is in.
        self.answer: asyncio.Future[int] = loop.create_future()
        # What went wrong after the answer, before TLS took the connection over.
        self.broken: ConnectError | None = None

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            # A tunnel's far end speaks only after our TLS hello: these bytes
            # are the proxy's, and would garble the handshake.
            self._fail(ConnectError(f"proxy {self._proxy} sent bytes after its CONNECT answer"))
            return
        try:
            got = self._reader.feed(data)
        except TunnelError as exc:
            self._fail(ConnectError(f"proxy {self._proxy}: {exc}"))
            return
        if got is not None:
            status, rest = got
            self.answer.set_result(status)
            if rest:
                self._fail(ConnectError(f"proxy {self._proxy} sent bytes after its CONNECT answer"))

    def eof_received(self) -> bool | None:
        self._fail(ConnectError(f"proxy {self._proxy} closed the connection during CONNECT"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectError(f"proxy {self._proxy} closed the connection during CONNECT"))

    def _fail(self, exc: ConnectError) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)
        elif self.broken is None:
            self.broken = exc


class Origin:
    """The connections to one (scheme, host, port), through one egress proxy or
    none, and how to address it."""

    __slots__ = (
        "_closed",
        "_connect_request",
        "_conns",
        "_dial",
        "_host",
        "_host_lines",
        "_idle",
        "_idle_s",
        "_limit",
        "_port",
        "_proxy",
        "_reuse",
        "_size",
        "_ssl",
        "_sweeper",
        "_target_prefix",
        "_waiters",
        "key",
    )

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        limit: int,
        idle_s: float,
        ssl_context: ssl.SSLContext | None,
        proxy: EgressProxy | None = None,
    ) -> None:
        self.key = (scheme, host, port)
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._limit = limit
        self._idle_s = idle_s
        self._proxy = proxy
        host_part = f"[{host}]" if ":" in host else host
        default_port = 443 if scheme == "https" else 80
        if port != default_port:
            host_part = f"{host_part}:{port}"
        self._host_lines = b"Host: " + host_part.encode("ascii") + b"\r\n" + _USER_AGENT
        # Through a proxy, http requests name their origin (absolute form) and
        # carry the proxy's credentials; https ones go in a tunnel, where the
        # proxy's credentials must never reach the vendor.
        self._target_prefix = ""
        self._connect_request = b""
        self._dial = (host, port)
        self._reuse = True
        if proxy is not None:
            self._dial = (proxy.host, proxy.port)
            if ssl_context is None:
                self._target_prefix = f"{scheme}://{host_part}"
                if proxy.authorization is not None:
                    self._host_lines += b"Proxy-Authorization: " + proxy.authorization + b"\r\n"
                # One connection per request: tinyproxy closes after each answer
                # without saying so, and a send written to a connection as it
                # closes is ambiguous.  A tunnel's keep-alive is the vendor's.
                self._host_lines += b"Connection: close\r\n"
                self._reuse = False
            else:
                self._connect_request = connect_request(host, port, proxy.authorization)
        self._idle: list[_Conn] = []  # oldest first: reuse pops the newest
        self._conns: set[_Conn] = set()
        self._size = 0  # connections open, being opened, or promised to a waiter
        self._waiters: deque[asyncio.Future[_Conn | None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    def __repr__(self) -> str:
        scheme, host, port = self.key
        via = f" via proxy {self._proxy.address}" if self._proxy is not None else ""
        return (
            f"<Origin {scheme}://{host}:{port}{via} open={self.open_connections} "
            f"idle={self.idle_connections} waiting={len(self._waiters)}>"
        )

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    def head(self, method: str, target: str, content_type: str | None) -> bytes:
        """A request's head up to its ``Content-Length`` value: callers may cache it."""
        if not target.isprintable() or " " in target or not target.isascii():
            raise InvalidRequest(f"request target is not one line of ASCII: {target!r}")
        line = f"{method} {self._target_prefix}{target} HTTP/1.1\r\n".encode("ascii")
        if content_type is None:
            return line + self._host_lines
        if not content_type.isprintable() or not content_type.isascii():
            raise InvalidRequest(f"content type is not one line of ASCII: {content_type!r}")
        return line + self._host_lines + f"Content-Type: {content_type}\r\n".encode("ascii")

    async def request(
        self, data: bytes, connect_timeout_s: float, timeout_s: float
    ) -> HttpResponse:
        """Send ``data``, a whole request, and wait for its answer.

        The whole exchange ends within ``timeout_s``: waiting for a free
        connection, connecting (also within ``connect_timeout_s``), writing
        and reading the answer.  Running out of time before the request was
        written raises :class:`ConnectTimeout`, after it :class:`ResponseTimeout`.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + timeout_s
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.reusable and now - conn._idle_since < self._idle_s and not conn.peer_spoke():
                try:
                    return self._answered(await conn.exchange(data, deadline))
                except NotSent:
                    pass  # it died unnoticed, not the vendor: a fresh connection decides
                finally:
                    self._release(conn)
                break
            self._drop(conn)
        conn = await self._acquire(loop, connect_timeout_s, deadline)
        try:
            return self._answered(await conn.exchange(data, deadline))
        finally:
            self._release(conn)

    def _answered(self, response: HttpResponse) -> HttpResponse:
        if response.status == 407 and self._proxy is not None and self._ssl is None:
            # Only a proxy answers 407: it did not pass the request on.
            raise ProxyRefused(407, self._proxy.address, authority(self._host, self._port))
        return response

    async def _acquire(
        self, loop: asyncio.AbstractEventLoop, connect_timeout_s: float, deadline: float
    ) -> _Conn:
        if self._closed:
            raise ConnectError("client closed")
        if self._size < self._limit and not self._waiters:
            self._size += 1
            return await self._connect(loop, connect_timeout_s, deadline)
        waiter: asyncio.Future[_Conn | None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                handed = await waiter
        except BaseException as exc:
            if not waiter.done():
                waiter.cancel()
            elif not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection or a slot just as time ran out or we were
                # cancelled: pass it on, or it is lost to the pool for good.
                handed = waiter.result()
                if handed is None:
                    self._free_slot()
                else:
                    self._release(handed)
            if isinstance(exc, TimeoutError):
                raise ConnectTimeout(f"no free connection of {self._limit} in time") from None
            raise
        if handed is not None:
            if handed.reusable and not handed.peer_spoke():
                return handed
            # It died on the way to us; its slot is ours to connect with.
            self._conns.discard(handed)
            handed.close()
        return await self._connect(loop, connect_timeout_s, deadline)

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, connect_timeout_s: float, deadline: float
    ) -> _Conn:
        """Open a connection in a slot already counted in ``_size``."""
        conn = _Conn(self, loop)
        where = authority(self._host, self._port)
        if self._proxy is not None:
            where += f" through proxy {self._proxy.address}"
        try:
            async with asyncio.timeout_at(min(loop.time() + connect_timeout_s, deadline)):
                if self._connect_request:
                    await self._tunnel(loop, conn)
                else:
                    await loop.create_connection(
                        lambda: conn,
                        *self._dial,
                        ssl=self._ssl,
                        server_hostname=self._host if self._ssl is not None else None,
                    )
        except TimeoutError:
            self._free_slot()
            conn.close()
            raise ConnectTimeout(f"connect to {where} timed out") from None
        except ssl.SSLCertVerificationError as exc:
            self._free_slot()
            conn.close()
            raise TlsVerifyError(f"connect to {where}: {exc}") from exc
        except OSError as exc:  # refused, DNS, TLS (ssl.SSLError is an OSError)
            self._free_slot()
            conn.close()
            raise ConnectError(f"connect to {where}: {exc}") from exc
        except BaseException:  # a ConnectError from the proxy among them
            self._free_slot()
            conn.close()
            raise
        if self._closed or conn._gone:
            self._free_slot()
            conn.close()
            raise ConnectError("client closed" if self._closed else "closed on connect")
        self._conns.add(conn)
        return conn

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, conn: _Conn) -> None:
        """Connect ``conn`` to the vendor in a CONNECT tunnel, TLS end to end."""
        proxy, context = self._proxy, self._ssl
        assert proxy is not None and context is not None
        handshake = _ProxyHandshake(loop, proxy.address)
        raw, _ = await loop.create_connection(lambda: handshake, *self._dial)
        try:
            raw.write(self._connect_request)
            status = await handshake.answer
            if not 200 <= status < 300:
                raise ProxyRefused(status, proxy.address, authority(self._host, self._port))
            if handshake.broken is not None:
                raise handshake.broken
            # The vendor's name, not the proxy's: its certificate is verified as
            # on a direct connection.
            tls = await loop.start_tls(raw, conn, context, server_hostname=self._host)
        except BaseException:
            raw.abort()
            raise
        if tls is None:
            raw.abort()
            raise ConnectError(f"proxy {proxy.address} closed the tunnel during TLS")
        # start_tls hands the protocol its transport but does not say so.
        conn.connection_made(tls)

    def _release(self, conn: _Conn) -> None:
        if not conn.reusable or self._closed:
            self._drop(conn)
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        loop = conn._loop
        conn._idle_since = loop.time()
        self._idle.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_at(conn._idle_since + self._idle_s, self._sweep, loop)

    def _drop(self, conn: _Conn) -> None:
        """Close a connection that is not idle; its slot goes to the next waiter."""
        conn.close()
        if conn in self._conns:
            self._conns.remove(conn)
            self._free_slot()

    def _free_slot(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: _size stays
                return
        self._size -= 1

    def _forget_idle(self, conn: _Conn) -> None:
        """An idle connection the peer closed."""
        try:
            self._idle.remove(conn)
        except ValueError:
            return  # already taken off by request() or the sweeper, which drop it
        self._drop(conn)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = None
        idle = self._idle
        cutoff = loop.time() - self._idle_s
        stale = 0
        while stale < len(idle) and idle[stale]._idle_since <= cutoff:
            stale += 1
        if stale:
            expired = idle[:stale]
            del idle[:stale]
            for conn in expired:
                self._drop(conn)
        if idle:
            self._sweeper = loop.call_at(idle[0]._idle_since + self._idle_s, self._sweep, loop)

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectError("client closed"))
        self._idle.clear()
        lost = [conn.lost() for conn in self._conns]
        for conn in list(self._conns):
            conn.close()
        self._conns.clear()
        if lost:
            await asyncio.wait(lost, timeout=1.0)


class VendorHttp:
    """The daemon's HTTP client for vendors; use ``async with`` or :meth:`close`.

    ``environment`` is the proxies of the process's environment, read once
    at start; without it, only a vendor's own proxy is used.
    """

    def __init__(
        self,
        *,
        limit_per_host: int = DEFAULT_LIMIT_PER_HOST,
        idle_s: float = DEFAULT_IDLE_S,
        ssl_context: ssl.SSLContext | None = None,
        environment: ProxyEnvironment | None = None,
    ) -> None:
        if limit_per_host < 1:
            raise ValueError("limit_per_host must be at least 1")
        self.limit_per_host = limit_per_host
        self.idle_s = idle_s
        self._ssl_context = ssl_context
        self._environment = environment or ProxyEnvironment()
        self._origins: dict[tuple[str, str, int, EgressProxy | None], Origin] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<VendorHttp origins={len(self._origins)} limit_per_host={self.limit_per_host}>"

    def origin(
        self, base_url: str, *, proxy: EgressProxy | None = None, use_env_proxy: bool = True
    ) -> tuple[Origin, str]:
        """The pool for ``base_url``'s origin, and its path (no trailing slash).

        Through ``proxy`` when given; else through the environment's proxy
        for the URL unless ``use_env_proxy`` is false.
        """
        if self._closed:
            raise RuntimeError("VendorHttp is closed")
        parts = urlsplit(base_url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError(f"credentials in a vendor URL are not supported: {base_url!r}")
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in {base_url!r}")
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        port = parts.port or (443 if scheme == "https" else 80)
        if proxy is None and use_env_proxy:
            proxy = self._environment.proxy_for(scheme, host, port)
        key = (scheme, host, port, proxy)
        origin = self._origins.get(key)
        if origin is None:
            origin = Origin(
                scheme,
                host,
                port,
                limit=self.limit_per_host,
                idle_s=self.idle_s,
                ssl_context=self._tls() if scheme == "https" else None,
                proxy=proxy,
            )
            self._origins[key] = origin
        return origin, parts.path.rstrip("/")

    def _tls(self) -> ssl.SSLContext:
        # Loading the CA store takes milliseconds: only once, and only for https.
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    async def close(self) -> None:
        self._closed = True
        origins = list(self._origins.values())
        self._origins.clear()
        for origin in origins:
            await origin.close()

    async def __aenter__(self) -> VendorHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
