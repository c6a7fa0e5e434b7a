"""Everything the daemon builds from one config, swapped whole on a reload.

The process keeps what outlives a config — the store, the vendor HTTP client, the
send recorder, the metrics registry — on the application.  What a config
decides — vendors (one client each, shared by routing, pollers and pushes:
:mod:`proxy.vendors`) and their health, client accounts, rules, pollers,
balance watchers — lives in an :class:`Engine`.  A reload builds a new
engine, starts it, points the application at it and stops the old one;
requests in flight keep the engine they started with.  A vendor whose
settings did not change keeps what its health had learnt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from adapters.client import VendorClient
from adapters.http.client import VendorHttp
from config.settings import Settings
from proxy.admission import AdmissionLimits, FairAdmission
from proxy.balance import balance_watch
from proxy.clients import ClientBook
from proxy.ingest.service import Ingest
from proxy.ingest.spool import PollSpool
from proxy.loops import Loop, cancel_all, start_all
from proxy.metrics import Metrics
from proxy.rate_limits import RateLimits
from proxy.recorder import SendRecorder
from proxy.retries import RecentTexts
from proxy.sending import SendService
from proxy.store.base import Store
from proxy.vendors import VendorClients, vendor_clients
from routing.health import VendorHealth
from routing.observer import RouteObserver
from routing.router import Router, VendorRuntime

log = structlog.get_logger("smsproxy.engine")


def build_router(
    settings: Settings,
    clients: VendorClients,
    observer: RouteObserver | None = None,
    previous: Router[VendorClient] | None = None,
    limits: RateLimits | None = None,
) -> Router[VendorClient]:
    limits = limits if limits is not None else RateLimits()
    vendors = []
    for vs in settings.vendors:
        if not vs.enabled:
            continue
        old = previous.vendors.get(vs.name) if previous else None
        unchanged = old is not None and old.settings == vs
        # Kept while its rate is, a limiter keeps its log of the last second;
        # remade, it starts from that log: a reload lets no burst through.
        was = old.settings if old is not None else None
        if old is not None and was is not None and was.rate_per_s == vs.rate_per_s:
            limiter = old.limiter
        else:
            limiter = limits.vendor(vs.name, vs.rate_per_s, old.limiter if old else None)
        vendors.append(
            VendorRuntime(
                vs.name,
                clients[vs.name],
                old.health if old is not None and unchanged else VendorHealth(vs.name),
                limiter,
                vs.price_per_segment,
                max_numbers=vs.max_numbers,
                signature=vs.signature,
                signature_text=vs.signature_text,
                settings=vs,
            )
        )
    return Router(vendors, rate_wait_s=settings.routing.rate_wait_s, observer=observer)


async def recent_texts(
    settings: Settings, store: Store, previous: RecentTexts | None = None
) -> RecentTexts | None:
    """What was sent within the dedup window, from the store: restarts forget nothing.

    A reload keeps the process's filter, which knows the sends still in
    flight on the old engine; a new window gets a new filter that starts
    from the store and everything the old one knew, and learns what sends
    still on the old engine see from then on.
    """
    window_s = settings.routing.dedup_window_s
    if not window_s:
        return None
    if previous is not None and previous.window_s == window_s:
        return previous
    since_ms = int((time.time() - window_s) * 1000)
    known = await store.claims.recent_texts(since_ms)
    if known is None:
        return None
    recent = RecentTexts(window_s, time.monotonic)
    recent.preload(known)
    if previous is not None:
        previous.hand_over(recent)
    return recent


@dataclass
class Engine:
    settings: Settings
    router: Router[VendorClient]
    clients: ClientBook
    sender: SendService
    ingest: Ingest
    # Kept across reloads like the send locks: waiting sends keep their place.
    admission: FairAdmission
    limits: RateLimits
    _loops: list[Loop] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Engine {self.router!r} {self.clients!r}>"

    @classmethod
    async def build(
        cls,
        settings: Settings,
        store: Store,
        http: VendorHttp,
        recorder: SendRecorder,
        metrics: Metrics,
        previous: Engine | None = None,
        spool: PollSpool | None = None,
    ) -> Engine:
        metrics.add_labels(
            [v.name for v in settings.vendors if v.enabled], [c.cpid for c in settings.clients]
        )
        clients = vendor_clients(settings.vendors, http)
        limits = previous.limits if previous is not None else RateLimits.of(store)
        router = build_router(
            settings, clients, metrics, previous.router if previous is not None else None, limits
        )
        before = previous.sender if previous is not None else None
        recent = await recent_texts(settings, store, before.recent if before else None)
        return cls(
            settings=settings,
            router=router,
            clients=await ClientBook.load(
                settings,
                store,
                metrics,
                previous.clients if previous is not None else None,
                limits,
            ),
            limits=limits,
            admission=previous.admission
            if previous is not None
            else FairAdmission(AdmissionLimits.of(settings.legacy), metrics),
            sender=SendService(
                router,
                recorder,
                store,
                settings,
                metrics,
                recent,
                before.locks if before is not None else None,
            ),
            ingest=Ingest(
                settings,
                store,
                clients,
                metrics,
                holder=previous.ingest.holder if previous is not None else None,
                spool=spool,
            ),
        )

    def start(self) -> None:
        # Here, not in build(): a reload that fails to build changes no limit.
        self.admission.configure(AdmissionLimits.of(self.settings.legacy))
        every_s = self.settings.routing.balance_interval_override_s
        store, holder = self.ingest.store, self.ingest.holder  # one lease holder a process
        watches = (balance_watch(v, every_s, store, holder) for v in self.router.vendors.values())
        self._loops = [w for w in watches if w is not None]
        self._loops.append(self.clients.refresher())
        start_all(self._loops)
        self.ingest.start()

    async def stop(self) -> None:
        await cancel_all(self._loops)
        self._loops = []
        await self.ingest.stop()


class Live:
    """The engine requests use now; replaced, never mutated, by a reload."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings  # the config the process started with
        self._engine: Engine | None = None

    def __repr__(self) -> str:
        return f"<Live {self._engine!r}>"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the daemon is not started")
        return self._engine

    @property
    def started(self) -> bool:
        return self._engine is not None

    def swap(self, engine: Engine | None) -> Engine | None:
        old, self._engine = self._engine, engine
        if engine is not None:
            self.settings = engine.settings
        return old
