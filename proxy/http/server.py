"""The listener of one port: admits connections up to the cap, refuses the rest.

It counts and logs refusals (through its :data:`~proxy.http.limits.RefusalHook`),
sweeps every connection's time-outs at once, and on :meth:`HttpServer.close`
stops accepting and lets requests in flight finish within a grace period.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from proxy.http.connection import LINGER_S, Connection
from proxy.http.heads import Heads
from proxy.http.limits import Limits, RefusalHook
from proxy.http.messages import Answer, Responder
from proxy.loops import Loop

log = structlog.get_logger("smsproxy.http.server")

REFUSALS_LOGGED_EVERY_S = 10.0

_BUSY = Answer(503, b"busy")


def _ignore(reason: str) -> None:
    pass


class HttpServer:
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
        self.heads = Heads(content_type)
        self._connections: set[Connection] = set()
        self._listener: asyncio.Server | None = None
        self._sweeper: Loop | None = None
        self.refused_lingering = 0
        self._refused_unlogged = 0
        self._refusal_logged = 0.0

    def __repr__(self) -> str:
        return f"<HttpServer connections={len(self._connections)} closing={self.closing}>"

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def listen(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: Connection(self), host or None, port, reuse_address=True, backlog=1024
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

    def admit(self, conn: Connection) -> bool:
        """Track a new connection; False when the port is full and it must be refused."""
        if len(self._connections) >= self.limits.max_connections or self.closing:
            self.refuse("connections")
            return False
        self._connections.add(conn)
        return True

    def forget(self, conn: Connection) -> None:
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
