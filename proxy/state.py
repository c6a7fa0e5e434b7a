"""The daemon's state: one typed object the three ports are handed.

:class:`DaemonState` holds what lives as long as the process (store,
vendor HTTP client, send recorder, metrics, poll spool, reloader) and the
:class:`~proxy.engine.Live` engine built from the config, which a reload
replaces.  :class:`proxy.serve.Daemon` opens it before the ports listen and
closes it after they stop; the legacy, admin and push endpoints
(:mod:`proxy.legacy`, :mod:`proxy.admin`, :mod:`proxy.ingest.pushes`) read
it, each request taking the live engine once.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from adapters.http.client import VendorHttp
from config.egress import ProxyEnvironment
from config.settings import Settings
from proxy.engine import Engine, Live
from proxy.ingest.lease import new_holder
from proxy.ingest.spool import PollSpool
from proxy.loops import Loop, cancel_all, start_all
from proxy.metrics import Metrics
from proxy.recorder import SendRecorder
from proxy.reload import Reloader
from proxy.store.base import Store
from proxy.store.open import open_store
from proxy.vendor_knowledge import KnowledgeMetrics, SharedVendorKnowledge
from proxy.vendor_metrics import VendorStateCollector
from proxy.vendor_snapshot import snapshot

log = structlog.get_logger("smsproxy.state")

QUEUE_STATS_EVERY_S = 5.0


def queue_stats(store: Store, metrics: Metrics, live: Live) -> Loop:
    """Queue depth and age, unresolved recipients, for the dashboard; a scrape must
    not wait on the disk."""

    async def read() -> None:
        for queue, (depth, oldest_age_s) in (await store.queues.queue_stats()).items():
            metrics.queue_depth.labels(queue).set(depth)
            metrics.queue_oldest_age.labels(queue).set(oldest_age_s)
        routing = live.settings.routing
        expire_s = min(routing.unresolved_expire_s, routing.dedup_window_s)
        count, _ = await store.sends.unresolved(int((time.time() - expire_s) * 1000), 0)
        metrics.unresolved.set(count)

    return Loop("queue-stats", read, every_s=QUEUE_STATS_EVERY_S)


class _Opened:
    """What :meth:`DaemonState.open` made; gone again at :meth:`DaemonState.close`."""

    def __init__(
        self,
        store: Store,
        http: VendorHttp,
        recorder: SendRecorder,
        spool: PollSpool,
    ) -> None:
        self.store = store
        self.http = http
        self.recorder = recorder
        self.spool = spool
        self.loops: list[Loop] = []
        # Where daemons share a store: what each learns of the vendors.
        self.knowledge: SharedVendorKnowledge | None = None


class DaemonState:
    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        self.live = Live(settings)
        self.metrics = Metrics(
            CollectorRegistry(auto_describe=True),
            [v.name for v in settings.vendors if v.enabled],
            [c.cpid for c in settings.clients],
        )
        live = self.live
        self.metrics.registry.register(
            VendorStateCollector(lambda: snapshot(live.engine.router) if live.started else ())
        )
        self.reloader = Reloader(config_path)
        # This process, in what it shares with other daemons: its name and a part of its own.
        self.daemon_id = new_holder(settings.state.daemon_name)
        self._knowledge_metrics = (
            KnowledgeMetrics(self.metrics.registry) if settings.state.engine == "redis" else None
        )
        self._opened: _Opened | None = None

    def __repr__(self) -> str:
        return f"<DaemonState opened={self.opened} {self.live!r}>"

    @property
    def opened(self) -> bool:
        return self._opened is not None

    @property
    def store(self) -> Store:
        if self._opened is None:
            raise RuntimeError("the daemon's state is not open")
        return self._opened.store

    @property
    def recorder(self) -> SendRecorder:
        if self._opened is None:
            raise RuntimeError("the daemon's state is not open")
        return self._opened.recorder

    @property
    def knowledge(self) -> SharedVendorKnowledge | None:
        """Vendor knowledge shared with the other daemons; None alone on SQLite."""
        return None if self._opened is None else self._opened.knowledge

    @property
    def engine(self) -> Engine:
        """The engine the current config built: a request takes it once."""
        return self.live.engine

    @property
    def settings(self) -> Settings:
        return self.live.settings

    async def open(self, settle: Callable[[], None] | None = None) -> None:
        """Open the store and build the first engine from the config.

        ``settle`` runs once all is built and before anything polls or loops:
        it may hold the event loop (a full collection takes 15-50 ms), and a
        poll answered meanwhile would wait that long to be spooled.
        """
        settings = self.live.settings
        # Once, before anything is opened: a variable we cannot use stops the start.
        environment = ProxyEnvironment.from_environ(os.environ)
        if environment.http is not None or environment.https is not None:
            log.info("egress_proxy_environment", proxies=repr(environment))
        store = await open_store(settings.state)
        recorder = SendRecorder(store)
        recorder.start()
        opened = _Opened(
            store,
            VendorHttp(limit_per_host=200, environment=environment),
            recorder,
            PollSpool.first_free(spool_path(settings)),
        )
        self._opened = opened
        self.reloader.bind(lambda: self.live.settings, self._apply)
        engine = await self._build(settings, None)
        states = store.vendor_states
        if states is not None:
            metrics = self._knowledge_metrics or KnowledgeMetrics(self.metrics.registry)
            self._knowledge_metrics = metrics
            opened.knowledge = SharedVendorKnowledge(states, self.daemon_id, metrics, store.leases)
            opened.knowledge.attach(engine.router)
            # Before the first send: a vendor drained, out of money or ejected
            # while this daemon was away is not rediscovered with real sends.
            await opened.knowledge.catch_up()
            opened.loops += opened.knowledge.loops
        # Before the first poll: what the daemon before us took from vendors and died with.
        await engine.ingest.take_left_over()
        # And the batches it was handing to clients when it died: they need not
        # wait out their hold (half a minute) to be read again.
        released = await store.queues.release_dead_holds()
        if released:
            log.info("queued_holds_released", items=released)
        if settle is not None:
            settle()
        engine.start()
        self.live.swap(engine)
        opened.loops.append(queue_stats(store, self.metrics, self.live))
        start_all(opened.loops)
        log.info(
            "daemon_ready",
            daemon=self.daemon_id,
            vendors=list(engine.router.vendors),
            clients=len(settings.clients),
        )

    async def close(self) -> None:
        opened, self._opened = self._opened, None
        if opened is None:
            return
        if opened.knowledge is not None:
            with contextlib.suppress(Exception):  # the others' catch-up covers a failure
                await opened.knowledge.share_pending()
        await cancel_all(opened.loops)
        old = self.live.swap(None)
        if old is not None:
            await old.stop()
        await opened.recorder.stop()
        await opened.http.close()
        await opened.store.close()
        opened.spool.close()

    async def _build(self, new: Settings, previous: Engine | None) -> Engine:
        o = self._opened
        assert o is not None
        return await Engine.build(new, o.store, o.http, o.recorder, self.metrics, previous, o.spool)

    async def _apply(self, new: Settings) -> list[str]:
        old = self.live.engine
        engine = await self._build(new, old)
        if self.knowledge is not None:
            self.knowledge.attach(engine.router)
        engine.start()
        self.live.swap(engine)
        await old.stop()
        return describe_changes(old.settings, new)


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
