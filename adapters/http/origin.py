"""The kept-alive connections to one vendor origin, and how to reach and address it.

One :class:`Origin` per (scheme, host, port, egress proxy): at most
``limit`` connections, extra callers queued first come, first served; idle
connections reused newest first and closed after ``idle_s``; a connection
the peer closed never handed out.  Connecting is direct, through an egress
proxy (an ``http`` vendor's requests in absolute form, one connection each),
or through a ``CONNECT`` tunnel with TLS end to end (an ``https`` vendor).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

from adapters.http.connection import Connection
from adapters.http.errors import (
    ConnectError,
    ConnectTimeout,
    InvalidRequest,
    NotSent,
    ProxyRefused,
    TlsVerifyError,
)
from adapters.http.handshake import ProxyHandshake
from adapters.http.tunnel import authority, connect_request
from config.egress import EgressProxy
from core.send import HttpResponse

_USER_AGENT = b"User-Agent: smsproxy\r\n"


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
        "_size",
        "_ssl",
        "_sweeper",
        "_target_prefix",
        "_waiters",
        "key",
        "reuse",
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
        self.reuse = True
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
                self.reuse = False
            else:
                self._connect_request = connect_request(host, port, proxy.authorization)
        self._idle: list[Connection] = []  # oldest first: reuse pops the newest
        self._conns: set[Connection] = set()
        self._size = 0  # connections open, being opened, or promised to a waiter
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
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
            if conn.reusable and now - conn.idle_since < self._idle_s and not conn.peer_spoke():
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
    ) -> Connection:
        if self._closed:
            raise ConnectError("client closed")
        if self._size < self._limit and not self._waiters:
            self._size += 1
            return await self._connect(loop, connect_timeout_s, deadline)
        waiter: asyncio.Future[Connection | None] = loop.create_future()
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
    ) -> Connection:
        """Open a connection in a slot already counted in ``_size``."""
        conn = Connection(self, loop)
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
        if self._closed or conn.gone:
            self._free_slot()
            conn.close()
            raise ConnectError("client closed" if self._closed else "closed on connect")
        self._conns.add(conn)
        return conn

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, conn: Connection) -> None:
        """Connect ``conn`` to the vendor in a CONNECT tunnel, TLS end to end."""
        proxy, context = self._proxy, self._ssl
        assert proxy is not None and context is not None
        handshake = ProxyHandshake(loop, proxy.address)
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

    def _release(self, conn: Connection) -> None:
        if not conn.reusable or self._closed:
            self._drop(conn)
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        loop = conn.loop
        conn.idle_since = loop.time()
        self._idle.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_at(conn.idle_since + self._idle_s, self._sweep, loop)

    def _drop(self, conn: Connection) -> None:
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

    def forget_idle(self, conn: Connection) -> None:
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
        while stale < len(idle) and idle[stale].idle_since <= cutoff:
            stale += 1
        if stale:
            expired = idle[:stale]
            del idle[:stale]
            for conn in expired:
                self._drop(conn)
        if idle:
            self._sweeper = loop.call_at(idle[0].idle_since + self._idle_s, self._sweep, loop)

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
