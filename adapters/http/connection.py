"""One connection to a vendor: at most one exchange in flight, its answer parsed by llhttp.

:class:`Connection` writes a whole request, feeds what comes back to
``httptools`` and resolves the exchange's future with the
:class:`~core.send.HttpResponse` (or an :mod:`~adapters.http.errors` failure).
It tells its :class:`~adapters.http.origin.Origin` when an idle connection
is closed by the peer, and whether an answer leaves it reusable.
"""

from __future__ import annotations

import asyncio
import select
from typing import TYPE_CHECKING, cast

import httptools

from adapters.http.errors import Disconnected, HttpError, NotSent, ProtocolError, ResponseTimeout
from core.send import HttpResponse

if TYPE_CHECKING:
    from adapters.http.origin import Origin

# Bodies larger than this are not a vendor answer we could use.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class Connection(asyncio.Protocol):
    """One connection; at most one exchange in flight on it."""

    __slots__ = (
        "_body",
        "_body_size",
        "_content_type",
        "_framed",
        "_headers_done",
        "_keep_alive",
        "_lost",
        "_origin",
        "_parser",
        "_poller",
        "_status",
        "_timer",
        "_transport",
        "_waiter",
        "gone",
        "idle_since",
        "loop",
    )

    def __init__(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self._origin = origin
        self.loop = loop
        self._transport: asyncio.Transport | None = None
        self._poller: select.poll | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # True once the peer closed, the connection broke, or we closed it.
        self.gone = False
        # True only between a complete answer the peer lets us follow up and the next request.
        self._keep_alive = False
        self.idle_since = 0.0
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
        return self._keep_alive and not self.gone and self._waiter is None

    def peer_spoke(self) -> bool:
        """Has an idle connection bytes, an end or an error the loop has not read yet?

        The loop reads them only on its next turn, and a request written now
        would go to a peer that is gone; nothing is owed on an idle
        connection, so anything readable means it can not be used.
        """
        poller = self._poller
        return poller is not None and not self.gone and bool(poller.poll(0))

    def exchange(self, data: bytes, deadline: float) -> asyncio.Future[HttpResponse]:
        waiter: asyncio.Future[HttpResponse] = self.loop.create_future()
        self._keep_alive = False
        transport = self._transport
        if self.gone or transport is None or transport.is_closing():
            waiter.set_exception(NotSent("connection closed before the request"))
            return waiter
        self._waiter = waiter
        self._timer = self.loop.call_at(deadline, self._timed_out)
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
        self.gone = True
        self._keep_alive = False
        if self._transport is not None:
            # Abort, not close: an unfinished exchange must not be answered
            # later, and a vendor needs no graceful goodbye.
            self._transport.abort()

    def lost(self) -> asyncio.Future[None]:
        """Done once the transport is gone (at once if there never was one)."""
        if self._lost is None:
            self._lost = self.loop.create_future()
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
        was_idle = not self.gone and self._waiter is None and self._keep_alive
        self.gone = True
        self._keep_alive = False
        if self._waiter is not None:
            if self._headers_done and not self._framed:
                # A body delimited by the end of the connection ends here.
                self._finish()
            else:
                self._fail(Disconnected(str(exc) if exc else "connection closed by peer"))
        elif was_idle:
            self._origin.forget_idle(self)

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
        self._keep_alive = self._parser.should_keep_alive() and self._origin.reuse

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
        self._keep_alive = keep_alive and not self.gone
