"""Forged pushes, over real sockets: refused with the vendor's failure answer, never stored.

Each pushing vendor is forged the way the issue found it open: sms10000
with empty or another account's eprId/userId, sms.cn with the right uid
alone, chuanglan with no receiver/pswd.  Where a vendor's pushes carry no
secret, the forger here even knows the account: only ``push_token`` or
``push_allowed_ips`` tells it from the vendor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs
from yarl import URL

from adapters.base import DeliveryStatus
from adapters.chuanglan import wire as chuanglan_wire
from adapters.chuanglan.simulator import ChuanglanSimulator
from adapters.simulator import PendingReport, Simulator, SimulatorServer
from adapters.sms10000 import wire as sms10000_wire
from adapters.sms10000.simulator import Sms10000Simulator
from adapters.smscn import wire as smscn_wire
from adapters.smscn.simulator import SmscnSimulator
from proxy.serve import Daemon
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config
from tests.e2e.legacy_client import LegacyClient

TOKEN = "Kx7_tQ2-vR9pL4mN8bZ3cW6y"
WRONG = "Kx7_tQ2-vR9pL4mN8bZ3cW6Y"  # one letter's case apart
PHONE = "13800138000"
TEXT = "【ACME】您的验证码是 135790"


def vendor(kind: str, server: SimulatorServer, **extra: Any) -> dict[str, Any]:
    entry = {
        "kind": kind,
        "name": kind,
        "base_url": server.url,
        "price_per_segment": 0.05,
        "timeout_s": 2.0,
        **server.simulator.credentials(),
        **extra,
    }
    return {k: v for k, v in entry.items() if v is not None}


async def daemon_for(start: DaemonFactory, tmp_path: Path, entry: dict[str, Any]) -> Daemon:
    cfg = base_config(tmp_path, vendors=[entry])
    cfg["reports"] = {"poll_interval_override_s": 0.1}
    return await start(cfg)


async def post(url: str, body: bytes) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as resp:
        return resp.status, await resp.read()


async def get(url: str, query: str) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(URL(f"{url}?{query}", encoded=True)) as resp,
    ):
        return resp.status, await resp.read()


async def stored(daemon: Daemon) -> int:
    return sum((await daemon.state.store.inbox.inbox_counts()).values())


def refused(daemon: Daemon, vendor: str, reason: str) -> float:
    registry = daemon.state.metrics.registry
    value = registry.get_sample_value(
        "smsproxy_pushes_refused_total", {"vendor": vendor, "reason": reason}
    )
    return value or 0.0


async def nothing_more(client: LegacyClient) -> None:
    await asyncio.sleep(0.3)
    assert await client.call("/qreport/") == b"0"
    assert await client.call("/mo/") == b"0"


def sms10000_push(kind: int, n: int, epr_id: str = "", user_id: str = "", **v: str) -> bytes:
    items = [
        sms10000_wire.PushItem(
            f"139{i:08d}" if n > 1 else PHONE, str(9000 + i), epr_id, user_id, **v
        )
        for i in range(n)
    ]
    return sms10000_wire.encode_push(kind, items)


# --- sms10000 ------------------------------------------------------------------------


async def test_sms10000_pushes_without_our_account_are_refused_and_not_stored(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = Sms10000Simulator()
    async with SimulatorServer(sim) as server:
        # The simulator's own addresses are allowed: the forger shares them.
        daemon = await daemon_for(start_daemon, tmp_path, vendor("sms10000", server))
        url = f"{daemon.push_url}/push/sms10000"
        sim.faults.report_delay_s = 3600  # the real report stays with the vendor
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send(PHONE, TEXT) == b"0"

        # A reply to a real client's number, with empty eprId/userId ...
        reply = sms10000_push(sms10000_wire.REPLY_PUSH, 1, content="forged reply")
        assert await post(url, reply) == (403, b"FAIL")
        # ... 9,000 reports in 3 requests ...
        for _ in range(3):
            body = sms10000_push(sms10000_wire.STATUS_PUSH, 3000, status="1")
            assert await post(url, body) == (403, b"FAIL")
        # ... and another account's, or ours with only one of the two.
        for epr_id, user_id in (("2", "sword123"), ("1", ""), ("", "sword123"), ("1", "x")):
            body = sms10000_push(sms10000_wire.STATUS_PUSH, 1, epr_id, user_id, status="-1")
            assert await post(url, body) == (403, b"FAIL")

        assert await stored(daemon) == 0
        assert refused(daemon, "sms10000", "account") == 8
        await nothing_more(acme)


async def test_the_vendors_own_push_of_thousands_is_read_whole_and_taken(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    # What tells a genuine push from a forged one is in every item: the
    # body must be read to its end, not to what the first read() returned.
    async with SimulatorServer(Sms10000Simulator()) as server:
        daemon = await daemon_for(start_daemon, tmp_path, vendor("sms10000", server))
        body = sms10000_push(sms10000_wire.STATUS_PUSH, 3000, "1", "sword123", status="1")
        assert len(body) > 256 * 1024
        assert await post(f"{daemon.push_url}/push/sms10000", body) == (200, b"SUCCESS")
        assert await stored(daemon) == 3000
        assert sum(refused(daemon, "sms10000", r) for r in ("account", "malformed")) == 0


async def test_a_forged_undeliv_with_a_guessed_id_never_reaches_the_client(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = Sms10000Simulator()
    async with SimulatorServer(sim) as server:
        entry = vendor("sms10000", server, push_allowed_ips=None, push_token=TOKEN)
        daemon = await daemon_for(start_daemon, tmp_path, entry)
        base = f"{daemon.push_url}/push/sms10000"
        sim.faults.push_url = f"{base}/{TOKEN}"  # as registered with the vendor
        sim.faults.report_delay_s = 3600
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send(PHONE, TEXT) == b"0"
        msg_id = sim.accepted[0].message_id

        # The forger knows the account and guessed the message id, not the token.
        item = sms10000_wire.PushItem(PHONE, msg_id, "1", "sword123", status="-1")
        forged = sms10000_wire.encode_push(sms10000_wire.STATUS_PUSH, [item])
        with capture_logs() as logs:
            for url in (base, f"{base}/{WRONG}", f"{base}/", f"{base}/{TOKEN}/x"):
                status, body = await post(url, forged)
                assert status in (403, 404) and body != b"SUCCESS", url
        assert refused(daemon, "sms10000", "token") == 2
        assert await stored(daemon) == 0
        lines = [e for e in logs if e["event"] == "push_refused"]
        # One line per vendor and reason each 10 s: a flood of forgeries is not a flood of lines.
        assert [e["reason"] for e in lines] == ["token"]
        assert TOKEN not in repr(logs) and WRONG not in repr(logs)

        # The vendor's real report comes through the token path, and is the only one.
        sim.reports.clear()
        await sim.push([PendingReport(sim.accepted[0], DeliveryStatus.DELIVERED, 0.0)], [])
        assert [(r.phone, r.status) for r in await acme.wait_reports(1)] == [(PHONE, 1)]
        assert sim.dropped_pushes == 0
        await nothing_more(acme)


async def test_a_vendor_with_nothing_to_check_has_every_push_refused_and_start_up_says_so(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = Sms10000Simulator()
    async with SimulatorServer(sim) as server:
        with capture_logs() as logs:
            entry = vendor("sms10000", server, push_allowed_ips=None)
            daemon = await daemon_for(start_daemon, tmp_path, entry)
        warnings = [e for e in logs if e["event"] == "push_unprotected"]
        assert [(e["vendor"], e["set"]) for e in warnings] == [
            ("sms10000", "push_token or push_allowed_ips")
        ]
        # Even the right account is not enough.
        body = sms10000_push(sms10000_wire.STATUS_PUSH, 1, "1", "sword123", status="1")
        assert await post(f"{daemon.push_url}/push/sms10000", body) == (403, b"FAIL")
        assert refused(daemon, "sms10000", "unconfigured") == 1
        assert await stored(daemon) == 0


# --- sms.cn --------------------------------------------------------------------------


def smscn_reply(text: str, uid: str = "test") -> str:
    record = smscn_wire.ReplyRecord(PHONE, text, None, "")
    return smscn_wire.encode_reply_push(uid, record, SmscnSimulator().zone)


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"push_allowed_ips": None}, "unconfigured"),
        ({"push_allowed_ips": ["192.0.2.0/24"]}, "address"),
        ({"push_allowed_ips": None, "push_token": TOKEN}, "token"),
    ],
    ids=["nothing-set", "other-addresses", "token"],
)
async def test_smscn_replies_need_more_than_the_uid(
    settings: dict[str, Any], reason: str, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = SmscnSimulator()
    async with SimulatorServer(sim) as server:
        daemon = await daemon_for(start_daemon, tmp_path, vendor("smscn", server, **settings))
        url = f"{daemon.push_url}/push/smscn"
        sim.faults.report_delay_s = 3600  # its reports are polled: none to confuse the count
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send(PHONE, TEXT) == b"0"
        assert await get(url, smscn_reply("forged")) == (403, b"101")
        assert refused(daemon, "smscn", reason) == 1
        if "push_token" in settings:
            assert await get(f"{url}/{WRONG}", smscn_reply("forged")) == (403, b"101")
            assert await get(f"{url}/{TOKEN}", smscn_reply("forged", "other")) == (403, b"101")
            assert refused(daemon, "smscn", "account") == 1
            # The vendor, registered with the token, gets through.
            assert await get(f"{url}/{TOKEN}", smscn_reply("真的")) == (200, b"100")
            assert [r.text for r in await acme.wait_replies(1)] == ["真的"]
        else:
            assert await stored(daemon) == 0
        await nothing_more(acme)


# --- chuanglan -----------------------------------------------------------------------


def chuanglan_report(msgid: str, **auth: str) -> str:
    fields = {**auth, "msgid": msgid, "reportTime": "2501011200", "mobile": PHONE}
    return chuanglan_wire.encode_push(fields | {"status": "UNDELIV"})


async def test_chuanglan_pushes_need_the_push_password(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = ChuanglanSimulator(receiver="smsproxy", receiver_password="push-s3cret")
    async with SimulatorServer(sim) as server:
        daemon = await daemon_for(start_daemon, tmp_path, vendor("chuanglan", server))
        url = f"{daemon.push_url}/push/chuanglan"
        sim.faults.report_delay_s = 3600
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send(PHONE, TEXT) == b"0"
        msgid = sim.accepted[0].message_id
        for auth in (
            {},
            {"receiver": "smsproxy"},
            {"receiver": "smsproxy", "pswd": ""},
            {"receiver": "smsproxy", "pswd": "push-s3creT"},
            {"receiver": "admin", "pswd": "push-s3cret"},
        ):
            assert await get(url, chuanglan_report(msgid, **auth)) == (403, b"forbidden")
        assert refused(daemon, "chuanglan", "account") == 5
        assert await stored(daemon) == 0
        await nothing_more(acme)


async def test_chuanglan_without_a_push_password_needs_a_token(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = ChuanglanSimulator()
    async with SimulatorServer(sim) as server:
        no_secret = {"report_receiver": None, "report_password": None}
        daemon = await daemon_for(start_daemon, tmp_path, vendor("chuanglan", server, **no_secret))
        url = f"{daemon.push_url}/push/chuanglan"
        sim.faults.report_delay_s = 3600
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send(PHONE, TEXT) == b"0"
        forged = chuanglan_report(sim.accepted[0].message_id)
        assert await get(url, forged) == (403, b"forbidden")
        assert refused(daemon, "chuanglan", "unconfigured") == 1
        assert await stored(daemon) == 0
        await nothing_more(acme)


async def test_chuanglan_with_a_token_takes_only_the_token_path(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = ChuanglanSimulator()
    async with SimulatorServer(sim) as server:
        entry = vendor("chuanglan", server, report_password=None, push_token=TOKEN)
        daemon = await daemon_for(start_daemon, tmp_path, entry)
        url = f"{daemon.push_url}/push/chuanglan"
        sim.faults.push_url = f"{url}/{TOKEN}"
        sim.faults.report_delay_s = 3600
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send(PHONE, TEXT) == b"0"
        forged = chuanglan_report(sim.accepted[0].message_id, receiver="admin")
        assert await get(url, forged) == (403, b"forbidden")
        assert await get(f"{url}/{WRONG}", forged) == (403, b"forbidden")
        assert refused(daemon, "chuanglan", "token") == 2
        assert await stored(daemon) == 0
        sim.faults.report_delay_s = 0.0
        await release(sim)
        assert [(r.phone, r.status) for r in await acme.wait_reports(1)] == [(PHONE, 1)]
        assert sim.push_failures == 0
        await nothing_more(acme)


async def release(sim: Simulator) -> None:
    due = [PendingReport(r.message, r.status, 0.0) for r in sim.reports]
    sim.reports.clear()
    await sim.push(due, [])
