"""A poll answer the daemon took and died before storing is stored by the next start.

The esms100 simulator hands each report out once.  The first daemon polls
it, and its store never finishes writing the rows (it is stopped first, as
a killed daemon would be); the second daemon, on the same state, finds the
raw answer in the poll spool and the client gets its report.  (The crash
test with SIGKILL is tests/e2e/test_crash_reports.py.)
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from adapters.simulator import SimulatorServer
from config.loader import settings_from
from proxy import heap
from proxy.serve import Daemon
from tests.conftest import CPID, PASSWORD, base_config, esms100_vendor
from tests.e2e.legacy_client import LegacyClient

TEXT = "【ACME】您的验证码是 135700"


async def test_a_poll_answer_not_yet_stored_survives_the_daemon(
    esms100: SimulatorServer, tmp_path: Path
) -> None:
    sim = esms100.simulator
    sim.faults.report_delay_s = 3600  # held back until the store is stuck
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    config["reports"] = {"poll_interval_override_s": 0.1}
    first = Daemon(settings_from(config, "(test)"))
    await first.start()
    try:
        client = LegacyClient(first.legacy_url, CPID, PASSWORD)
        assert await client.send("13800138000", TEXT) == b"0"
        store = first.state.store
        stuck = asyncio.Event()

        async def never(*args: Any) -> int:
            stuck.set()
            await asyncio.Event().wait()
            return 0

        store.inbox.add_reports = never  # type: ignore[method-assign]
        sim.reports = [replace(r, due=0.0) for r in sim.reports]  # due now
        await asyncio.wait_for(stuck.wait(), 5)
        assert sim.reports == []  # handed out: the vendor will not give it again
    finally:
        await first.stop()
    second = Daemon(settings_from(config, "(test)"))
    await second.start()
    try:
        client = LegacyClient(second.legacy_url, CPID, PASSWORD)
        got = await client.wait_reports(1, within_s=5)
        assert [(r.phone, r.status) for r in got] == [("13800138000", 1)]
    finally:
        await second.stop()


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, after a daemon settled it."""
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_nothing_polls_while_the_daemons_heap_settles(
    esms100: SimulatorServer, tmp_path: Path, collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up collection holds the event loop (15-50 ms in the daemon,
    more here); a poll answered meanwhile waits as long to be spooled, and a
    kill then loses it.  A crash test (test_crash_reports) lost 169 reports
    to a kill 66 ms after the first poll of a restarted daemon."""
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    config["reports"] = {"poll_interval_override_s": 0.1}
    daemon = Daemon(settings_from(config, "(test)"))
    at_settle: list[tuple[list[str], bool]] = []
    settle = heap.settle

    def settling() -> None:
        polls = sorted(
            t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("poll-")
        )
        at_settle.append((polls, daemon.legacy_port != 0))  # 0 until the port listens
        settle()

    monkeypatch.setattr(heap, "settle", settling)
    await daemon.start(settle_heap=True)
    try:
        assert gc.get_freeze_count() > 0, "the heap was settled"
        # Once, with no poller started and no port listening yet.
        assert at_settle == [([], False)], f"under way while the heap settled: {at_settle}"
        # And the pollers run once it is done.
        for _ in range(250):
            if esms100.simulator.requests:
                break
            await asyncio.sleep(0.02)
        assert esms100.simulator.requests, "no poll within 5 s of the start"
    finally:
        await daemon.stop()
