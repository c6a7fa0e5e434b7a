"""Wire the daemon: its applications and everything that lives on them.

The legacy application owns the state through one ``cleanup_ctx``: the
process-wide pieces (store, vendor HTTP client, send recorder, metrics) and the
:class:`~proxy.engine.Engine` built from the config.  Its port is served by
:mod:`proxy.legacy_http` with :class:`proxy.legacy.Legacy`'s endpoints; the
admin and push applications, aiohttp on ports of their own, reach it
through :data:`proxy.keys.LEGACY_APP`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from adapters.http1 import VendorHttp
from config.settings import Settings
from proxy.engine import Engine, Live
from proxy.ingest.spool import PollSpool
from proxy.keys import LIVE, METRICS, RECORDER, RELOADER, STORE, VENDOR_HTTP
from proxy.metrics import Metrics, VendorStateCollector
from proxy.recorder import SendRecorder
from proxy.reload import Reloader
from proxy.store.base import Store
from proxy.store.open import open_store
from proxy.tasks import cancel_all

log = structlog.get_logger("smsproxy.app")

QUEUE_STATS_EVERY_S = 5.0


async def watch_queues(store: Store, metrics: Metrics, live: Live) -> None:
    """Queue depth and age, unresolved recipients, for the dashboard; a scrape must
    not wait on the disk."""
    while True:
        try:
            for queue, (depth, oldest_age_s) in (await store.queue_stats()).items():
                metrics.queue_depth.labels(queue).set(depth)
                metrics.queue_oldest_age.labels(queue).set(oldest_age_s)
            routing = live.settings.routing
            expire_s = min(routing.unresolved_expire_s, routing.dedup_window_s)
            count, _ = await store.unresolved(int((time.time() - expire_s) * 1000), 0)
            metrics.unresolved.set(count)
        except Exception:
            log.exception("queue_stats_failed")
        await asyncio.sleep(QUEUE_STATS_EVERY_S)


async def daemon_state(app: web.Application) -> AsyncIterator[None]:
    live = app[LIVE]
    settings = live.settings
    store = await open_store(settings.state)
    app[STORE] = store
    http = VendorHttp(limit_per_host=200)
    app[VENDOR_HTTP] = http
    recorder = SendRecorder(store)
    recorder.start()
    app[RECORDER] = recorder
    metrics = app[METRICS]
    spool = PollSpool.first_free(spool_path(settings))

    async def build(new: Settings, previous: Engine | None) -> Engine:
        return await Engine.build(new, store, http, recorder, metrics, previous, spool)

    async def apply(new: Settings) -> list[str]:
        old = live.engine
        engine = await build(new, old)
        engine.start()
        live.swap(engine)
        await old.stop()
        return describe_changes(old.settings, new)

    app[RELOADER].bind(lambda: live.settings, apply)
    engine = await build(settings, None)
    # Before the first poll: what the daemon before us took from vendors and died with.
    await engine.ingest.take_left_over()
    engine.start()
    live.swap(engine)
    queues = asyncio.create_task(watch_queues(store, metrics, live), name="queue-stats")
    log.info("daemon_ready", vendors=list(engine.router.vendors), clients=len(settings.clients))
    yield
    await cancel_all([queues])
    old = live.swap(None)
    if old is not None:
        await old.stop()
    await recorder.stop()
    await http.close()
    await store.close()
    spool.close()


def spool_path(settings: Settings) -> Path:
    configured = settings.reports.spool_path
    state = settings.state.path
    return configured if configured is not None else state.with_name(state.name + ".polls")


def describe_changes(old: Settings, new: Settings) -> list[str]:
    changes = []
    for section in type(new).model_fields:
        if getattr(old, section) != getattr(new, section):
            changes.append(section)
    return changes


def build_legacy_app(settings: Settings, config_path: Path | None = None) -> web.Application:
    # Routes none: proxy.legacy_http serves the legacy port.  The application
    # holds the daemon's state and runs its start-up and clean-up.
    app = web.Application()
    live = Live(settings)
    app[LIVE] = live
    metrics = Metrics(
        CollectorRegistry(auto_describe=True),
        [v.name for v in settings.vendors if v.enabled],
        [c.cpid for c in settings.clients],
    )
    metrics.registry.register(
        VendorStateCollector(lambda: live.engine.router if live.started else None)
    )
    app[METRICS] = metrics
    app[RELOADER] = Reloader(config_path)
    app.cleanup_ctx.append(daemon_state)
    return app
