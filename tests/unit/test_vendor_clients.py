"""One client per vendor for routing, polls and pushes; one snapshot for admin and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from adapters.http.client import VendorHttp
from config.loader import settings_from
from proxy.admin import describe
from proxy.engine import Engine
from proxy.metrics import Metrics
from proxy.recorder import SendRecorder
from proxy.store.sqlite.store import SqliteStore
from proxy.vendor_metrics import VendorStateCollector
from proxy.vendor_snapshot import snapshot
from tests.conftest import base_config

NOWHERE = "http://127.0.0.1:1"  # never asked: the engine is built, not started


def vendor(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "name": name, "base_url": NOWHERE, "price_per_segment": 0.05, **extra}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    esms100 = {"cpid": "acct", "password": "pw"}
    vendors = [
        # One account at two prices: one poller, through the first one's client.
        vendor("esms100", "esms-cheap", **esms100),
        vendor("esms100", "esms-dear", **esms100, price_per_segment=0.07),
        # Disabled: not routed to, but its pushes are still read.
        vendor("chuanglan", "cl", account="a", password="p", enabled=False),
    ]
    settings = settings_from(base_config(tmp_path, vendors=vendors), "(test)")
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        async with VendorHttp() as http:
            metrics = Metrics(CollectorRegistry(), [], [])
            yield await Engine.build(settings, store, http, SendRecorder(store), metrics)
    finally:
        await store.close()


async def test_routing_polls_and_pushes_share_one_client_per_vendor(engine: Engine) -> None:
    ingest, routed = engine.ingest, engine.router.vendors
    assert set(ingest.clients) == {"esms-cheap", "esms-dear", "cl"}
    assert set(routed) == {"esms-cheap", "esms-dear"}
    for name, runtime in routed.items():
        assert runtime.client is ingest.clients[name]
    assert [(p.what, p.client) for p in ingest.pollers.pollers] == [
        ("reports", routed["esms-cheap"].client),
        ("replies", routed["esms-cheap"].client),
    ]
    for name in ("esms-cheap", "cl"):
        target = ingest.push_target(name)
        assert target is not None and target[1] is ingest.clients[name].adapter


async def test_the_admin_api_and_the_metrics_read_the_same_snapshot(engine: Engine) -> None:
    router = engine.router
    router.vendors["esms-dear"].health.hold()
    vendors = snapshot(router)
    shown = {v["name"]: v for v in map(describe, vendors)}
    assert shown["esms-dear"] == {
        "name": "esms-dear",
        "kind": "esms100",
        "state": "drained",
        "reason": "operator",
        "seconds_left": None,
        "held_by_operator": True,
        "balance_segments": None,
        "price_per_segment": 0.07,
        "consecutive_failures": 0,
        "latency_ms": None,
        # Alone (no shared vendor states) no other daemon saw or held anything.
        "seen": None,
        "held_by": None,
        "balance_checked_by": None,
    }
    assert shown["esms-cheap"]["state"] == "routable"

    registry = CollectorRegistry()
    registry.register(VendorStateCollector(lambda: vendors))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("smsproxy_vendor_state", vendor="esms-dear", state="drained") == 1
    assert value("smsproxy_vendor_state", vendor="esms-dear", state="routable") == 0
    assert value("smsproxy_vendor_unroutable_seconds", vendor="esms-dear") == float("inf")
    assert value("smsproxy_vendor_price_yuan", vendor="esms-dear") == 0.07
    assert value("smsproxy_vendor_ejections_total", vendor="esms-dear", reason="operator") == 1
    assert value("smsproxy_vendors_routable") == 1
    assert value("smsproxy_vendor_balance_segments", vendor="esms-dear") is None
