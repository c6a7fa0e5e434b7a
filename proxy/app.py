"""Wire the daemon: two aiohttp applications and everything that lives on them.

The legacy application owns the state (store, vendor sessions, router,
recorder, client book) through one ``cleanup_ctx``; the admin application,
on its own port, reads it through :data:`proxy.keys.LEGACY_APP`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web
from aiolimiter import AsyncLimiter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from adapters.client import VendorClient
from adapters.registry import make_adapter
from adapters.transport import VendorTransport
from config.settings import Settings
from proxy.balance import watch_balance
from proxy.clients import ClientBook
from proxy.ingest.inspect import admin_routes as ingest_admin_routes
from proxy.ingest.wiring import ingest_state
from proxy.keys import (
    CLIENTS,
    LEGACY_APP,
    METRICS,
    RECORDER,
    ROUTER,
    SENDER,
    SESSION,
    SETTINGS,
    STORE,
)
from proxy.legacy import Handler, esms100_errors, legacy_metrics, legacy_routes
from proxy.metrics import Metrics, VendorStateCollector
from proxy.recorder import SendRecorder
from proxy.sending import SendService
from proxy.store.sqlite import SqliteStore
from routing.health import VendorHealth
from routing.observer import RouteObserver
from routing.router import Router, VendorRuntime

log = structlog.get_logger("smsproxy.app")


@web.middleware
async def fresh_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    structlog.contextvars.clear_contextvars()
    return await handler(request)


def build_router(
    settings: Settings, session: aiohttp.ClientSession, observer: RouteObserver | None = None
) -> Router:
    vendors = []
    for vs in settings.vendors:
        if not vs.enabled:
            continue
        transport = VendorTransport(
            session, vs.base, connect_timeout_s=vs.connect_timeout_s, timeout_s=vs.timeout_s
        )
        client = VendorClient(vs.name, make_adapter(vs), transport)
        vendors.append(
            VendorRuntime(
                vs.name,
                client,
                VendorHealth(vs.name),
                AsyncLimiter(vs.rate_per_s, 1.0),
                vs.price_per_segment,
                max_numbers=vs.max_numbers,
                signature=vs.signature,
                signature_text=vs.signature_text,
            )
        )
    return Router(vendors, rate_wait_s=settings.routing.rate_wait_s, observer=observer)


async def daemon_state(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await SqliteStore.open(settings.state.path)
    app[STORE] = store
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=200, ttl_dns_cache=300)
    session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
    app[SESSION] = session
    router = build_router(settings, session, app[METRICS])
    app[ROUTER] = router
    recorder = SendRecorder(store)
    recorder.start()
    app[RECORDER] = recorder
    app[CLIENTS] = await ClientBook.load(settings.clients, store)
    app[SENDER] = SendService(router, recorder, store, settings, app[METRICS])
    watchers = [
        asyncio.create_task(watch_balance(v), name=f"balance-{v.name}")
        for v in router.vendors.values()
    ]
    log.info("daemon_ready", vendors=list(router.vendors), clients=len(settings.clients))
    yield
    for task in watchers:
        task.cancel()
    for task in watchers:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await recorder.stop()
    await session.close()
    await store.close()


def build_legacy_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[fresh_context, legacy_metrics, esms100_errors],
        client_max_size=settings.legacy.max_body_bytes,
    )
    app[SETTINGS] = settings
    metrics = Metrics(
        CollectorRegistry(auto_describe=True),
        [v.name for v in settings.vendors if v.enabled],
        [c.cpid for c in settings.clients],
    )
    metrics.registry.register(VendorStateCollector(lambda: app.get(ROUTER)))
    app[METRICS] = metrics
    app.add_routes(legacy_routes())
    app.cleanup_ctx.append(daemon_state)
    app.cleanup_ctx.append(ingest_state)  # after the state it needs; stops first
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[LEGACY_APP][METRICS].registry
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def readyz(request: web.Request) -> web.Response:
    legacy = request.app[LEGACY_APP]
    store_ok = STORE in legacy and await legacy[STORE].ping()
    routable = ROUTER in legacy and legacy[ROUTER].any_routable()
    status = 200 if store_ok and routable else 503
    return web.json_response({"store": store_ok, "vendor_routable": routable}, status=status)


def build_admin_app(legacy: web.Application) -> web.Application:
    app = web.Application()
    app[LEGACY_APP] = legacy
    app.add_routes(
        [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]
    )
    app.add_routes(ingest_admin_routes())
    return app
