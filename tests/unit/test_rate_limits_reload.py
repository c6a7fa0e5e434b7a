"""A reload never lets a burst past a rate: the new limiter counts what the old one let
through in the last window (SQLite mode: the log is the limiter's own memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from config.loader import settings_from
from proxy.clients import ClientBook
from proxy.engine import build_router
from proxy.metrics import Metrics
from proxy.store.sqlite.store import SqliteStore


def vendor(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "esms100",
        "name": "esms100",
        "base_url": "http://api.example.com",
        "price_per_segment": 0.05,
        "cpid": "1",
        "password": "p",
        "rate_per_s": 2,
        **extra,
    }


async def granted(limiter: Any, tries: int) -> int:
    return sum([await limiter.try_acquire() == 0.0 for _ in range(tries)])


async def test_a_vendor_changed_but_not_its_rate_keeps_its_limiter() -> None:
    before = build_router(settings_from({"vendors": [vendor()]}, "(test)"), {"esms100": None})  # type: ignore[arg-type]
    assert await granted(before.vendors["esms100"].limiter, 2) == 2
    # The price changed: the vendor's runtime is remade, its rate is not.
    settings = settings_from({"vendors": [vendor(price_per_segment=0.04)]}, "(test)")
    after = build_router(settings, {"esms100": None}, previous=before)  # type: ignore[arg-type]
    assert await granted(after.vendors["esms100"].limiter, 2) == 0


async def test_a_vendor_rate_raised_counts_the_grants_of_the_last_window() -> None:
    before = build_router(settings_from({"vendors": [vendor()]}, "(test)"), {"esms100": None})  # type: ignore[arg-type]
    assert await granted(before.vendors["esms100"].limiter, 2) == 2
    settings = settings_from({"vendors": [vendor(rate_per_s=3)]}, "(test)")
    after = build_router(settings, {"esms100": None}, previous=before)  # type: ignore[arg-type]
    assert await granted(after.vendors["esms100"].limiter, 3) == 1


async def test_a_client_rate_changed_counts_the_requests_of_the_last_window(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        metrics = Metrics(CollectorRegistry(), [], [])

        def settings(rate: float) -> Any:
            client = {"cpid": "acme", "password": "pw", "rate_per_s": rate}
            return settings_from({"clients": [client]}, "(test)")

        before = await ClientBook.load(settings(2), store, metrics)
        old = before.client("acme")
        assert old is not None
        assert [await old.take_request() for _ in range(2)] == [True, True]
        after = await ClientBook.load(settings(3), store, metrics, before)
        new = after.client("acme")
        assert new is not None
        assert [await new.take_request() for _ in range(2)] == [True, False]
    finally:
        await store.close()
