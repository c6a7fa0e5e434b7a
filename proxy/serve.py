"""Run the daemon: listen, serve until told to stop, drain, exit.

On SIGTERM (or SIGINT) the listening sockets close at once, requests in
flight get ``shutdown.grace_s`` to finish, pending send records are
written, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog

from config.settings import Settings, split_host_port
from proxy import heap
from proxy.admin import AdminPort
from proxy.engine import Engine
from proxy.http.limits import Limits
from proxy.http.messages import Answer, Responder
from proxy.http.server import HttpServer
from proxy.ingest.pushes import MAX_PUSH_BYTES, PushPort
from proxy.legacy import Legacy
from proxy.open_files import connection_budget
from proxy.reload import ReloadOutcome
from proxy.sd_notify import notify
from proxy.state import DaemonState

log = structlog.get_logger("smsproxy")

ADMIN_GRACE_S = 1.0
ADMIN_MAX_BODY_BYTES = 64 * 1024  # its requests carry no body worth more
BUSY = Answer(503, b"busy")  # the admin and push ports, past their connection cap
PUSH_GRACE_S = 2.0  # a push being stored finishes; the vendor pushes again if it does not


class Daemon:
    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        self.settings = settings
        # What the three ports serve: store, metrics, the live engine.
        self.state = DaemonState(settings, config_path)
        self.limits = connection_limits(settings)
        # A GET with 1000 numbers is a long request line; esms100 takes it.
        self.legacy_server = self._server(
            "legacy",
            Legacy(self.state).respond,
            settings.legacy.max_body_bytes,
            content_type=b"text/plain; charset=gbk",
            # Before a request is read there is no endpoint to answer for; every
            # esms100 endpoint reads -15 as "too fast, try again".
            busy=Answer(503, b"-15"),
        )
        self.admin = AdminPort(self.state)
        self.admin_server = self._server(
            "admin",
            self.admin.routes.respond,
            ADMIN_MAX_BODY_BYTES,
            keep_headers=frozenset({b"authorization"}),
        )
        # Vendors' report and reply pushes: a chuanglan reply is a long GET line.
        self.pushes = PushPort(self.state)
        self.push_server = self._server(
            "push",
            self.pushes.routes.respond,
            MAX_PUSH_BYTES,
            keep_headers=frozenset({b"content-type"}),
        )
        self.legacy_port = 0
        self.admin_port = 0
        self.push_port = 0
        self._stopped = False

    def _server(
        self,
        port: str,
        respond: Responder,
        max_body_bytes: int,
        content_type: bytes = b"text/plain; charset=utf-8",
        busy: Answer = BUSY,
        keep_headers: frozenset[bytes] = frozenset(),
    ) -> HttpServer:
        """One port's server, with the shared limits, its refusal counter and its gauge."""
        metrics = self.state.metrics
        server = HttpServer(
            respond,
            max_body_bytes=max_body_bytes,
            content_type=content_type,
            limits=self.limits,
            busy=busy,
            on_refusal=metrics.http_refused(port),
            keep_headers=keep_headers,
        )
        metrics.http_connections.labels(port).set_function(lambda: server.connections)
        return server

    def __repr__(self) -> str:
        return f"<Daemon legacy=:{self.legacy_port} admin=:{self.admin_port}>"

    @property
    def engine(self) -> Engine:
        """What the current config built: router, clients, rules, ingest."""
        return self.state.engine

    async def reload(self) -> ReloadOutcome:
        return await self.state.reloader.reload()

    @property
    def legacy_url(self) -> str:
        host, _ = split_host_port(self.settings.listen.legacy)
        return f"http://{_url_host(host)}:{self.legacy_port}"

    @property
    def admin_url(self) -> str:
        host, _ = split_host_port(self.settings.listen.admin)
        return f"http://{_url_host(host)}:{self.admin_port}"

    @property
    def push_url(self) -> str:
        host, _ = split_host_port(self.settings.listen.push)
        return f"http://{_url_host(host)}:{self.push_port}"

    async def start(self, *, settle_heap: bool = False) -> None:
        """Open the state and listen; ``settle_heap`` for the daemon's own process only
        (it freezes what the whole process built, see :mod:`proxy.heap`)."""
        await self.state.open(heap.settle if settle_heap else None)
        self.legacy_port = await self.legacy_server.listen(
            *split_host_port(self.settings.listen.legacy)
        )
        self.admin_port = await self.admin_server.listen(
            *split_host_port(self.settings.listen.admin)
        )
        self.pushes.warn_unprotected()
        self.push_port = await self.push_server.listen(*split_host_port(self.settings.listen.push))
        log.info(
            "listening",
            legacy=self.legacy_url,
            admin=self.admin_url,
            push=self.push_url,
            # "uvloop" or "asyncio": a tenth of a send's CPU apart.
            loop=type(asyncio.get_running_loop()).__module__.partition(".")[0],
        )
        # Type=notify: systemd starts what comes after us only now.
        notify("READY=1")

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        notify("STOPPING=1")
        log.info("stopping", grace_s=self.settings.shutdown.grace_s)
        # First: no push is taken once the store may close.
        await self.push_server.close(PUSH_GRACE_S)
        await self.admin_server.close(ADMIN_GRACE_S)
        await self.legacy_server.close(self.settings.shutdown.grace_s)
        await self.state.close()
        log.info("stopped")

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        reloads: set[asyncio.Task[ReloadOutcome]] = set()

        def on_sighup() -> None:
            task = loop.create_task(self.reload(), name="reload")
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        await self.start(settle_heap=True)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            for task in list(reloads):
                await task
            await self.stop()


def connection_limits(settings: Settings) -> Limits:
    http, listen = settings.http, settings.listen
    # Each vendor origin may hold up to 200 pooled connections (proxy.state).
    budget = connection_budget(http.max_connections, 200 * len(settings.vendors))
    return Limits(
        max_head_bytes=http.max_head_bytes,
        head_timeout_s=http.head_timeout_s,
        body_timeout_s=http.body_timeout_s,
        keepalive_s=http.keepalive_s,
        max_connections=budget.per_port,
        trusted_proxies=tuple(listen.trusted_proxies),
        proxy_protocol=listen.proxy_protocol,
    )


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
