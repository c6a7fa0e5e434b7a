"""Recipients a vendor may have: never resent, never answered 0, until resolved.

A vendor that hangs or answers bytes nobody can read may still have sent the
SMS.  Its recipients are *unresolved*: a client's retry of them is answered
-17 and sends nothing, until the vendor's delivery report for the number
arrives (then the retry is answered 0) or ``routing.unresolved_expire_s``
passes without one (then a retry sends it).  Over real sockets, with the
esms100 simulator polled for reports.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from adapters.simulator import SimulatorServer
from proxy.serve import Daemon
from tests.conftest import (
    ADMIN_HEADERS,
    CPID,
    PASSWORD,
    DaemonFactory,
    base_config,
    esms100_vendor,
)
from tests.e2e.legacy_client import LegacyClient

TEXT = "【ACME】您的验证码是 246810"
TO = "13800138000"


def config(tmp_path: Path, esms100: SimulatorServer, **routing: Any) -> dict[str, Any]:
    cfg = base_config(tmp_path, vendors=[esms100_vendor(esms100, timeout_s=0.5)])
    cfg["routing"] = {"send_deadline_s": 3.0, **routing}
    cfg["reports"] = {"poll_interval_override_s": 0.1}
    return cfg


async def unresolved(daemon: Daemon) -> Any:
    async with (
        aiohttp.ClientSession(headers=ADMIN_HEADERS) as session,
        session.get(daemon.admin_url + "/admin/unresolved") as resp,
    ):
        assert resp.status == 200
        return await resp.json()


async def answer_within(client: LegacyClient, expected: bytes, seconds: float) -> bytes:
    """Retry the send until it is answered ``expected``; the last answer."""
    got = b""
    for _ in range(int(seconds / 0.1)):
        got = await client.send(TO, TEXT)
        if got == expected:
            break
        await asyncio.sleep(0.1)
    return got


async def unclear_answer(sim: Any, client: LegacyClient, fault: str) -> None:
    """The vendor gives ``fault`` ("hang" or "garbage") to one send: answered -17."""
    setattr(sim.faults, fault, True)
    assert await client.send(TO, TEXT) == b"-17"
    setattr(sim.faults, fault, False)


async def test_a_report_resolves_a_hung_send_and_the_retry_is_answered_0(
    esms100: SimulatorServer, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = esms100.simulator
    daemon = await start_daemon(config(tmp_path, esms100))
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    await unclear_answer(sim, client, "hang")
    assert await client.send(TO, TEXT) == b"-17"
    assert sim.phones_of(TEXT) == []
    listed = await unresolved(daemon)
    assert listed["count"] == 1
    [entry] = listed["unresolved"]
    assert (entry["client"], entry["vendor"], entry["state"]) == (CPID, "esms100", "ambiguous")
    # The vendor had it after all: its report comes back...
    sim.faults.report_delay_s = 0.0
    sim.accept("hung-1", TO, TEXT)
    # ...and resolves it: the retry is answered 0 and sends nothing.
    assert await answer_within(client, b"0", 5.0) == b"0"
    assert sim.phones_of(TEXT) == [TO]
    assert [(r.phone, r.status) for r in await client.wait_reports(1)] == [(TO, 1)]
    assert (await unresolved(daemon))["count"] == 0


async def test_without_a_report_an_unresolved_recipient_expires_and_is_sent(
    esms100: SimulatorServer, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = esms100.simulator
    daemon = await start_daemon(
        config(tmp_path, esms100, unresolved_expire_s=1.0, send_deadline_s=1.0)
    )
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    await unclear_answer(sim, client, "garbage")
    assert await client.send(TO, TEXT) == b"-17"
    assert sim.phones_of(TEXT) == []
    await asyncio.sleep(1.1)
    assert await client.send(TO, TEXT) == b"0"
    assert sim.phones_of(TEXT) == [TO]
    # Accepted now: the next retry is answered 0 and sends nothing.
    assert await client.send(TO, TEXT) == b"0"
    assert sim.phones_of(TEXT) == [TO]


async def test_a_retry_adding_a_number_sends_only_it_and_is_not_answered_0(
    esms100: SimulatorServer, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = esms100.simulator
    daemon = await start_daemon(config(tmp_path, esms100))
    client = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
    await unclear_answer(sim, client, "hang")
    assert await client.send(f"{TO},13900139000", TEXT) == b"-17"
    assert sim.phones_of(TEXT) == ["13900139000"]
