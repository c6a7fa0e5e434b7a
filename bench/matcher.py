"""The matcher alone: how many pending reports a second it settles, per store engine.

``python -m bench.matcher [--engine sqlite,redis] [--reports 20000]``

Seeds ``--reports`` send records (one recipient each, a number every
record, as the saturation workload sends them) and as many pending
inbox reports through the store's own methods, then times
:meth:`~proxy.ingest.matcher.Matcher.settle_once` until nothing is pending
and prints reports/s per engine.  The reports are esms100's (no message id,
the send time in whole seconds: the costliest rule of
:mod:`proxy.ingest.correlate`) except every fourth, which carries the
record's message id as sms.cn's does.  Every report must end queued for its
client, or the run fails: a fast matcher that matches wrongly is no figure.

Redis runs in a redis-server of the bench's own (loopback, nothing on disk),
so neither persistence nor another tenant is measured.  This times the
store and the matching rules, not a daemon: the ``reports`` workload of
``python -m bench`` is the end-to-end figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import structlog

from bench.redis_server import RedisServerMissing, private_redis
from config.settings import ReportsSettings
from proxy.ingest.accounts import Account, AccountBook
from proxy.ingest.matcher import Matcher
from proxy.store.base import InboxReport, RecordState, SendRecord, Store
from proxy.store.redis import RedisStore
from proxy.store.sqlite import SqliteStore

VENDOR = "stub"
T0 = 1_700_000_000_000
CHUNK = 1000  # records per record_sends call, as a busy send path batches them


class OneAccount(AccountBook):
    """The bench's one vendor account, without a config to build it from."""

    def __init__(self) -> None:
        account = Account(VENDOR, "esms100", (VENDOR,), (VENDOR,))
        self.accounts = [account]
        self._by_vendor = {VENDOR: account}
        self._by_name = {VENDOR: account}


def records(n: int) -> list[SendRecord]:
    # 3 ms apart: a few records share each whole second, as at 300+ sends/s.
    return [
        SendRecord(
            f"s{i}",
            "bench",
            VENDOR,
            str(13_000_000_000 + i),
            RecordState.ACCEPTED,
            "0",
            f"m{i}" if i % 4 == 0 else None,
            "d",
            1,
            T0 + 3 * i,
        )
        for i in range(n)
    ]


def reports(sent: list[SendRecord], n: int, received_ms: int) -> list[InboxReport]:
    return [
        InboxReport(
            VENDOR,
            f"k{i}",
            r.phone,
            1,
            "DELIVRD",
            r.message_id,
            None if r.message_id else r.created_ms // 1000 * 1000,
            received_ms,
        )
        for i, r in zip(range(n), sent, strict=False)
    ]


async def seed(store: Store, n_records: int, n_reports: int, received_ms: int) -> None:
    sent = records(n_records)
    for i in range(0, len(sent), CHUNK):
        await store.record_sends(sent[i : i + CHUNK])
    rows = reports(sent, n_reports, received_ms)
    for i in range(0, len(rows), CHUNK):
        await store.add_reports(rows[i : i + CHUNK])


async def time_matcher(store: Store, n_reports: int) -> dict[str, float]:
    received = T0 + 10**7
    await seed(store, n_reports, n_reports, received)
    matcher = Matcher(store, OneAccount(), ReportsSettings(), clock_ms=lambda: received + 1000)
    started = time.perf_counter()
    while await matcher.settle_once():
        pass
    elapsed = time.perf_counter() - started
    counts = await store.inbox_counts()
    if matcher.reports_queued != n_reports or counts.get("reports.pending"):
        raise SystemExit(f"matched {matcher.reports_queued} of {n_reports}; inbox {counts}")
    return {"reports": n_reports, "seconds": elapsed, "reports_per_s": n_reports / elapsed}


@asynccontextmanager
async def opened(engine: str, workdir: Path, redis_url: str | None) -> AsyncIterator[Store]:
    store: Store
    if engine == "sqlite":
        store = await SqliteStore.open(workdir / "matcher.sqlite3")
    else:
        assert redis_url is not None
        store = await RedisStore.open(redis_url, prefix=f"bench-{time.monotonic_ns()}:")
    try:
        yield store
    finally:
        await store.close()


async def run(engines: list[str], n_reports: int, workdir: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with maybe_redis("redis" in engines, workdir) as url:
        for engine in engines:
            async with opened(engine, workdir, url) as store:
                out[engine] = await time_matcher(store, n_reports)
    return out


@contextmanager
def maybe_redis(wanted: bool, workdir: Path) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    try:
        with private_redis(workdir) as url:
            yield url
    except RedisServerMissing as exc:
        raise SystemExit(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.matcher", description=__doc__)
    parser.add_argument("--engine", default="sqlite,redis", help="sqlite, redis or both")
    parser.add_argument("--reports", type=int, default=20_000, help="pending reports (and records)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    engines = [e for e in args.engine.split(",") if e]
    unknown = set(engines) - {"sqlite", "redis"}
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    # A line per batch would be timed too, and bury the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="smsproxy-matcher-") as tmp:
        figures = asyncio.run(run(engines, args.reports, Path(tmp)))
    if args.json:
        print(json.dumps(figures))
    for engine, f in figures.items():
        print(
            f"{engine:6}  {f['reports']:,} reports matched and queued in {f['seconds']:.2f} s:"
            f" {f['reports_per_s']:,.0f} reports/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
