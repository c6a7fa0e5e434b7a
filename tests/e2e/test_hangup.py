"""A legacy client that hangs up before its answer loses nothing.

/qreport/ and /mo/ hand a batch out of the client's queue; if the answer
cannot be written because the connection is gone, the batch goes back, in
order, and requests the client pipelined behind it are not run.  Over real
sockets: the daemon, the esms100 simulator, and a raw client socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from adapters.simulator import SimulatorServer
from config.loader import settings_from
from proxy.serve import Daemon
from proxy.store.queues import QueuedReply, QueuedReport
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config, esms100_vendor
from tests.e2e.legacy_client import LegacyClient

PHONES = [f"1380013800{i}" for i in range(5)]


async def start(start_daemon: DaemonFactory, tmp_path: Path, esms100: SimulatorServer) -> Daemon:
    return await start_daemon(base_config(tmp_path, vendors=[esms100_vendor(esms100)]))


async def queue_some(daemon: Daemon) -> None:
    store = daemon.state.store
    now = datetime.now(UTC).replace(microsecond=0)
    for i, phone in enumerate(PHONES):
        await store.queues.enqueue_report(CPID, QueuedReport(phone, 1 + i % 2, now))
        await store.queues.enqueue_reply(CPID, QueuedReply(phone, f"回复 {i}", now))


async def raw_requests(daemon: Daemon, *paths: str, wait_s: float = 0.0) -> None:
    """Write the requests (paths ending in ? or &) on one connection, then hang up unread."""
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    auth = f"cpid={client.cpid}&cppwd={client.cppwd}"
    host, port = daemon.legacy_url.removeprefix("http://").rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"".join(f"GET {path}{auth} HTTP/1.1\r\nHost: x\r\n\r\n".encode("ascii") for path in paths)
    )
    await writer.drain()
    await asyncio.sleep(wait_s)
    writer.transport.abort()  # RST: the daemon's write has nowhere to go


async def reports_after_restart(config: dict[str, Any]) -> list[str]:
    """What a daemon started on the state the last one left hands its client;
    a poll after that finds the queue empty."""
    daemon = Daemon(settings_from(config, "(test)"))
    await daemon.start()
    try:
        client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        phones = [r.phone for r in await client.reports()]
        assert await client.call("/qreport/") == b"0"
        return phones
    finally:
        await daemon.stop()


def slow(store: Any, name: str, delay_s: float, after: bool = False) -> None:
    """``after``: the delay comes once the real call is done."""
    real = getattr(store, name)

    async def slower(*args: Any) -> Any:
        if not after:
            await asyncio.sleep(delay_s)
        result = await real(*args)
        if after:
            await asyncio.sleep(delay_s)
        return result

    setattr(store, name, slower)


async def test_a_batch_whose_answer_cannot_be_written_goes_back_in_order(
    start_daemon: DaemonFactory, tmp_path: Path, esms100: SimulatorServer
) -> None:
    daemon = await start(start_daemon, tmp_path, esms100)
    await queue_some(daemon)
    store = daemon.state.store
    # The client is gone by the time its batch is ready to be written.
    slow(store.queues, "hold_reports", 0.3)
    slow(store.queues, "hold_replies", 0.3)
    await raw_requests(daemon, "/qreport/?", wait_s=0.1)
    await raw_requests(daemon, "/mo/?", wait_s=0.1)
    await asyncio.sleep(0.5)
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    reports = await client.reports()
    assert [(r.phone, r.status) for r in reports] == [(p, 1 + i % 2) for i, p in enumerate(PHONES)]
    replies = await client.replies()
    assert [(r.phone, r.text) for r in replies] == [(p, f"回复 {i}") for i, p in enumerate(PHONES)]
    # Handed out once: nothing is left.
    assert await client.call("/qreport/") == b"0"
    assert await client.call("/mo/") == b"0"


async def test_requests_pipelined_behind_a_hang_up_do_not_run(
    start_daemon: DaemonFactory, tmp_path: Path, esms100: SimulatorServer
) -> None:
    daemon = await start(start_daemon, tmp_path, esms100)
    await queue_some(daemon)
    # The first request takes a while; the client hangs up meanwhile.
    esms100.simulator.faults.latency_s = 0.4
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    await raw_requests(daemon, "/mt/?phone=13900139000&msgtext=hi&", "/qreport/?", wait_s=0.1)
    # The send the client made stands: it reaches the vendor...
    for _ in range(100):
        if esms100.simulator.phones_of("hi"):
            break
        await asyncio.sleep(0.05)
    assert esms100.simulator.phones_of("hi") == ["13900139000"]
    await asyncio.sleep(0.2)  # ...and the /qreport/ behind it would have run by now
    esms100.simulator.faults.latency_s = 0.0
    # ...and every report is still there for the client's next poll.
    assert [r.phone for r in await client.reports()] == PHONES


async def test_a_batch_written_before_its_daemon_died_is_not_handed_out_again(
    tmp_path: Path, esms100: SimulatorServer
) -> None:
    """The batch is handed over (counted delivered) before its answer is
    written.  Held only, a daemon gone before its settlement (killed, here
    stopped with the settlement stuck) left it held, and the daemon after it
    handed it out again to a client that already had it."""
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)], shutdown={"grace_s": 0.2})
    first = Daemon(settings_from(config, "(test)"))
    await first.start()
    got: list[str] = []
    try:
        await queue_some(first)
        store = first.state.store
        real = store.queues.settle_held

        async def stuck(kind: Any, cpid: str, receipt: Any, delivered: bool) -> None:
            if delivered:
                await asyncio.Event().wait()  # the daemon dies first
            await real(kind, cpid, receipt, delivered)

        store.queues.settle_held = stuck  # type: ignore[method-assign]
        client = LegacyClient(first.legacy_url, CPID, PASSWORD)
        with contextlib.suppress(TimeoutError, aiohttp.ClientError):
            async with asyncio.timeout(1.0):
                got += [r.phone for r in await client.reports()]
    finally:
        await first.stop()
    assert got + await reports_after_restart(config) == PHONES  # each once


async def test_a_client_that_hangs_up_while_its_batch_is_handed_over_gets_it_back(
    start_daemon: DaemonFactory, tmp_path: Path, esms100: SimulatorServer
) -> None:
    daemon = await start(start_daemon, tmp_path, esms100)
    await queue_some(daemon)
    slow(daemon.state.store.queues, "hand_over", 0.3)
    await raw_requests(daemon, "/qreport/?", wait_s=0.1)
    await asyncio.sleep(0.5)
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    assert [r.phone for r in await client.reports()] == PHONES


async def test_a_shutdown_in_the_middle_of_a_hand_over_loses_no_batch(
    tmp_path: Path, esms100: SimulatorServer
) -> None:
    """Past its grace, a shutdown cancels the request: the hand-over it
    interrupts still ends in a write or in the batch going back."""
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)], shutdown={"grace_s": 0.1})
    first = Daemon(settings_from(config, "(test)"))
    await first.start()
    got: list[str] = []
    try:
        await queue_some(first)
        slow(first.state.store.queues, "hand_over", 0.5, after=True)  # committed, then slow
        client = LegacyClient(first.legacy_url, CPID, PASSWORD)
        reading = asyncio.ensure_future(client.reports())
        await asyncio.sleep(0.2)  # in the hand-over
    finally:
        await first.stop()
    with contextlib.suppress(aiohttp.ClientError):
        got += [r.phone for r in await reading]
    assert got + await reports_after_restart(config) == PHONES  # each once
