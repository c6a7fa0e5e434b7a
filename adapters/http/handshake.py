"""A connection to the egress proxy until it answers ``CONNECT``; then TLS takes it over.

The bytes are :mod:`adapters.http.tunnel`'s; this is the protocol that
carries them and turns the proxy's misbehaviour into a
:class:`~adapters.http.errors.ConnectError` (nothing reached the vendor).
"""

from __future__ import annotations

import asyncio

from adapters.http.errors import ConnectError
from adapters.http.tunnel import ConnectAnswer, TunnelError


class ProxyHandshake(asyncio.Protocol):
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
