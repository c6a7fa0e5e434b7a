"""Delivery reports and replies, vendor -> daemon -> legacy client, over real sockets."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.base import DeliveryStatus
from adapters.simulator import InjectedReply, PendingReport, Simulator, SimulatorServer
from adapters.simulators import VENDOR_KINDS, VendorKind
from adapters.sms10000 import wire
from proxy.serve import Daemon
from tests.conftest import ADMIN_HEADERS, CPID, PASSWORD, DaemonFactory, base_config
from tests.e2e.legacy_client import CHINA, LegacyClient

OTHER, OTHER_PASSWORD = "globex", "globex-pass"
TEXT = "【ACME】您的验证码是 135790"
REPLY = "好的，收到！谢谢"
KINDS = {vk.kind: vk for vk in VENDOR_KINDS}


def vendor_entry(
    kind: str, server: SimulatorServer, name: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name or kind,
        "base_url": server.url,
        "price_per_segment": 0.05,
        "timeout_s": 2.0,
        **{k: v for k, v in server.simulator.credentials().items() if v is not None},
        **extra,
    }


def config(tmp_path: Path, vendors: list[dict[str, Any]], **reports: Any) -> dict[str, Any]:
    cfg = base_config(tmp_path, vendors=vendors)
    cfg["clients"].append({"cpid": OTHER, "password": OTHER_PASSWORD, "rate_per_s": 100})
    cfg["reports"] = {"poll_interval_override_s": 0.1, **reports}
    return cfg


def listen_for_pushes(sim: Simulator, daemon: Daemon, name: str) -> None:
    sim.faults.push_url = f"{daemon.push_url}/push/{name}"
    sim.faults.report_delay_s = 0.05


async def admin(daemon: Daemon, path: str) -> Any:
    async with (
        aiohttp.ClientSession(headers=ADMIN_HEADERS) as session,
        session.get(daemon.admin_url + path) as resp,
    ):
        return await resp.json()


@pytest.mark.parametrize("kind", VENDOR_KINDS, ids=lambda vk: vk.kind)
async def test_reports_and_replies_reach_the_client_once(
    kind: VendorKind, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = kind.simulator()
    async with SimulatorServer(sim) as server:
        daemon = await start_daemon(config(tmp_path, [vendor_entry(kind.kind, server)]))
        listen_for_pushes(sim, daemon, kind.kind)
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        globex = LegacyClient(daemon.legacy_url, OTHER, OTHER_PASSWORD)
        before = datetime.now(CHINA).replace(microsecond=0)
        assert await acme.send(["13800138000", "13900139000"], TEXT) == b"0"
        sim.faults.report_status = DeliveryStatus.FAILED
        assert await globex.send("13700137000", TEXT) == b"0"

        got = await acme.wait_reports(2)
        assert sorted((r.phone, r.status) for r in got) == [("13800138000", 1), ("13900139000", 1)]
        for line in got:  # the send time, as the client knows it
            assert before <= line.sent <= datetime.now(CHINA)
        other = await globex.wait_reports(1)
        assert [(r.phone, r.status) for r in other] == [("13700137000", 2)]

        # A reply goes to the client that sent to the number.
        sim.inject_reply("13900139000", REPLY)
        sim.inject_reply("13700137000", "STOP")
        replies = await acme.wait_replies(1)
        assert [(r.phone, r.text) for r in replies] == [("13900139000", REPLY)]
        assert replies[0].time >= before.replace(second=0) - timedelta(minutes=1)
        assert [(r.phone, r.text) for r in await globex.wait_replies(1)] == [
            ("13700137000", "STOP")
        ]

        # Exactly once: nothing more, however often they ask.
        await asyncio.sleep(0.4)
        for client in (acme, globex):
            assert await client.call("/qreport/") == b"0"
            assert await client.call("/mo/") == b"0"


async def test_smscn_reply_push(start_daemon: DaemonFactory, tmp_path: Path) -> None:
    kind = next(vk for vk in VENDOR_KINDS if vk.kind == "smscn")
    sim = kind.simulator()
    sim.push_replies = True  # type: ignore[attr-defined]
    async with SimulatorServer(sim) as server:
        # Polling slowed right down: the reply must come by its push.
        cfg = config(tmp_path, [vendor_entry("smscn", server)], poll_interval_override_s=3600)
        daemon = await start_daemon(cfg)
        listen_for_pushes(sim, daemon, "smscn")
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send("13800138000", TEXT) == b"0"
        sim.inject_reply("13800138000", REPLY)
        replies = await acme.wait_replies(1, within_s=5)
        assert [(r.phone, r.text) for r in replies] == [("13800138000", REPLY)]
        assert sim.replies == []  # taken by the push, not left for /rx/


FAILOVER = [("c123", "chuanglan"), ("chuanglan", "sms10000"), ("esms100", "esms100")]


@pytest.mark.parametrize(("first", "second"), FAILOVER, ids=lambda k: k)
async def test_failover_report_comes_from_the_second_vendor(
    first: str, second: str, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    kinds = {vk.kind: vk for vk in VENDOR_KINDS}
    broken, working = kinds[first].simulator(), kinds[second].simulator()
    async with SimulatorServer(broken) as s1, SimulatorServer(working) as s2:
        vendors = [
            vendor_entry(first, s1, name="cheap", price_per_segment=0.01),
            vendor_entry(second, s2, name="dear", price_per_segment=0.09),
        ]
        daemon = await start_daemon(config(tmp_path, vendors, unmatched_retry_s=0.3))
        listen_for_pushes(broken, daemon, "cheap")
        listen_for_pushes(working, daemon, "dear")
        broken.faults.balance = 0  # refuses: balance exhausted
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send("13800138000", TEXT) == b"0"
        assert broken.accepted == [] and working.phones_of(TEXT) == ["13800138000"]
        got = await acme.wait_reports(1)
        assert [(r.phone, r.status) for r in got] == [("13800138000", 1)]

        # A report from the vendor that refused it matches nothing: kept, counted.
        broken.faults.balance = None
        broken.faults.forced_code = None
        broken.accept("999999", "13800138000", TEXT)
        await broken.push(broken.due_reports(), [])  # pushing vendors push; others wait
        for _ in range(100):
            inbox = await admin(daemon, "/reports/unmatched")
            if inbox["counts"].get("reports.unmatched"):
                break
            await asyncio.sleep(0.05)
        assert inbox["counts"]["reports.unmatched"] == 1
        assert inbox["unmatched"][0]["vendor"] == "cheap"
        assert await acme.call("/qreport/") == b"0"


@pytest.mark.parametrize("kind", ["esms100", "smscn", "c123"])
async def test_a_report_polled_twice_is_handed_out_once(
    kind: str, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = KINDS[kind].simulator()
    async with SimulatorServer(sim) as server:
        sim.faults.report_delay_s = 0.3
        daemon = await start_daemon(config(tmp_path, [vendor_entry(kind, server)]))
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send("13800138000", TEXT) == b"0"
        # One poll hands the report out twice ...
        sim.reports.append(sim.reports[0])
        assert [r.phone for r in await acme.wait_reports(1)] == ["13800138000"]
        # ... and a later poll once more.
        sim.reports.append(PendingReport(sim.accepted[0], DeliveryStatus.DELIVERED, 0.0))
        await asyncio.sleep(0.5)
        assert sim.reports == []
        assert await acme.call("/qreport/") == b"0"


@pytest.mark.parametrize("kind", ["chuanglan", "sms10000"])
async def test_a_repush_is_handed_out_once(
    kind: str, start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = KINDS[kind].simulator()
    async with SimulatorServer(sim) as server:
        daemon = await start_daemon(config(tmp_path, [vendor_entry(kind, server)]))
        listen_for_pushes(sim, daemon, kind)
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send("13800138000", TEXT) == b"0"
        assert len(await acme.wait_reports(1)) == 1
        # The vendor did not hear our answers and pushes everything again.
        again = PendingReport(sim.accepted[0], DeliveryStatus.DELIVERED, 0.0)
        await sim.push([again, again], [])
        reply = InjectedReply("13800138000", REPLY, sim.now())
        await sim.push([], [reply])
        assert len(await acme.wait_replies(1)) == 1
        if kind == "chuanglan":
            await sim.push([], [reply])  # same time, number and words: the same reply
        else:
            # sms10000 gives every reply its own msgId: a re-push is the very same bytes.
            item = wire.PushItem("13800138000", "777", "1", "sword123", content="再来")
            body = wire.encode_push(wire.REPLY_PUSH, [item])
            for _ in range(2):
                async with (
                    aiohttp.ClientSession() as session,
                    session.post(sim.faults.push_url or "", data=body) as resp,
                ):
                    assert (resp.status, await resp.read()) == (200, b"SUCCESS")
            assert [r.text for r in await acme.wait_replies(1)] == ["再来"]
        await asyncio.sleep(0.3)
        assert await acme.call("/qreport/") == b"0"
        assert await acme.call("/mo/") == b"0"


async def test_out_of_order_reports_find_their_sends(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    # esms100 has no message id: two sends to one number are told apart by time.
    sim = KINDS["esms100"].simulator()
    async with SimulatorServer(sim) as server:
        sim.faults.report_delay_s = 3600  # held back until the test lets them go
        daemon = await start_daemon(config(tmp_path, [vendor_entry("esms100", server)]))
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send("13800138000", "first") == b"0"
        await asyncio.sleep(1.1)  # esms100 times are whole seconds
        assert await acme.send("13800138000", "second") == b"0"
        first, second = sim.accepted
        # The later send is reported first, and it failed.
        sim.reports = [
            PendingReport(second, DeliveryStatus.FAILED, 0.0),
            PendingReport(first, DeliveryStatus.DELIVERED, 0.0),
        ]
        got = await acme.wait_reports(2)
        assert [(r.sent, r.status) for r in sorted(got, key=lambda r: r.sent)] == [
            (got_time(got, 1), 1),
            (got_time(got, 2), 2),
        ]
        assert got_time(got, 1) < got_time(got, 2)
        assert got_time(got, 1) - first.time < timedelta(seconds=2)


def got_time(lines: list[Any], status: int) -> datetime:
    return next(r.sent for r in lines if r.status == status)


def slow_settlements(daemon: Daemon, delay_s: float) -> None:
    """The attempts' outcomes reach the disk ``delay_s`` late."""
    store = daemon.state.store
    write = store.record_sends

    async def slow_settle(records: Any, settlements: Any = ()) -> int:
        if settlements:
            await asyncio.sleep(delay_s)
        return await write(records, settlements)

    store.record_sends = slow_settle  # type: ignore[method-assign]


async def test_a_report_before_its_attempt_settles_is_retried(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = KINDS["chuanglan"].simulator()
    async with SimulatorServer(sim) as server:
        daemon = await start_daemon(config(tmp_path, [vendor_entry("chuanglan", server)]))
        listen_for_pushes(sim, daemon, "chuanglan")
        sim.faults.report_delay_s = 0.0
        # The attempt's outcome, with chuanglan's msgid, reaches the disk a
        # second after the vendor took it (and pushed its report): the record
        # in flight has no id yet, so the report waits for it, and so does
        # the client's 0 (the id must be on disk before it).
        slow_settlements(daemon, 1.0)
        store = daemon.state.store
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        send = asyncio.ensure_future(acme.send("13800138000", TEXT))
        for _ in range(300):  # pushed, and in our inbox, with no record to match yet
            if await store.inbox_counts() == {"reports.pending": 1}:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the matcher tries, and tries again
        assert await store.inbox_counts() == {"reports.pending": 1}
        assert not send.done()
        assert await send == b"0"
        assert [(r.phone, r.status) for r in await acme.wait_reports(1)] == [("13800138000", 1)]
        assert daemon.engine.ingest.matcher.unmatched == 0


async def test_a_retry_while_the_outcome_is_written_waits_for_it(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = KINDS["esms100"].simulator()
    async with SimulatorServer(sim) as server:
        daemon = await start_daemon(config(tmp_path, [vendor_entry("esms100", server)]))
        slow_settlements(daemon, 1.0)
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        # esms100's answer brings no id to write: the client hears 0 at once.
        assert await asyncio.wait_for(acme.send("13800138000", TEXT), 0.8) == b"0"
        # A retry now waits until the outcome is written, then finds it
        # accepted: 0, and nothing sent again (not -17 for "in flight").
        assert await acme.send("13800138000", TEXT) == b"0"
        assert sim.phones_of(TEXT) == ["13800138000"]


async def test_a_report_that_never_matches_is_kept_and_counted(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = KINDS["sms10000"].simulator()
    async with SimulatorServer(sim) as server:
        cfg = config(tmp_path, [vendor_entry("sms10000", server)], unmatched_retry_s=0.2)
        daemon = await start_daemon(cfg)
        listen_for_pushes(sim, daemon, "sms10000")
        sim.accept("4242", "13600136000", "not sent by us")
        for _ in range(100):
            inbox = await admin(daemon, "/reports/unmatched")
            if inbox["counts"].get("reports.unmatched"):
                break
            await asyncio.sleep(0.05)
        assert inbox["counts"] == {"reports.unmatched": 1}
        [kept] = inbox["unmatched"]
        assert (kept["vendor"], kept["phone"], kept["message_id"]) == (
            "sms10000",
            "136****6000",
            "4242",
        )
        assert (kept["status"], kept["raw_status"]) == (1, "1")
        assert daemon.engine.ingest.matcher.unmatched == 1
        assert await LegacyClient(daemon.legacy_url, CPID, PASSWORD).call("/qreport/") == b"0"


async def test_replies_go_to_the_last_sender_else_the_default_client(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = KINDS["c123"].simulator()
    async with SimulatorServer(sim) as server:
        cfg = config(tmp_path, [vendor_entry("c123", server)], default_client=OTHER)
        daemon = await start_daemon(cfg)
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        globex = LegacyClient(daemon.legacy_url, OTHER, OTHER_PASSWORD)
        assert await globex.send("13800138000", TEXT) == b"0"
        assert await acme.send("13800138000", TEXT) == b"0"  # acme sent last
        sim.inject_reply("13800138000", "to acme")
        sim.inject_reply("13500135000", "nobody wrote to me")  # -> the default client
        assert [r.text for r in await acme.wait_replies(1)] == ["to acme"]
        assert [(r.phone, r.text) for r in await globex.wait_replies(1)] == [
            ("13500135000", "nobody wrote to me")
        ]


async def test_a_reply_nobody_claims_is_kept(start_daemon: DaemonFactory, tmp_path: Path) -> None:
    sim = KINDS["c123"].simulator()
    async with SimulatorServer(sim) as server:
        daemon = await start_daemon(config(tmp_path, [vendor_entry("c123", server)]))
        sim.inject_reply("13500135000", "anyone?")
        for _ in range(100):
            counts = (await admin(daemon, "/reports/unmatched"))["counts"]
            if counts and "replies.pending" not in counts:  # polled, and settled
                break
            await asyncio.sleep(0.05)
        assert counts == {"replies.unmatched": 1}


async def test_long_reply_parts_are_joined(start_daemon: DaemonFactory, tmp_path: Path) -> None:
    sim = KINDS["chuanglan"].simulator()
    async with SimulatorServer(sim) as server:
        cfg = config(tmp_path, [vendor_entry("chuanglan", server)], reply_part_wait_s=0.5)
        daemon = await start_daemon(cfg)
        listen_for_pushes(sim, daemon, "chuanglan")
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        assert await acme.send("13800138000", TEXT) == b"0"
        # Three parts, last first, one of them pushed twice.
        for index, words in ((3, "第三段。"), (1, "第一段，"), (2, "第二段，"), (3, "第三段。")):
            sim.inject_reply("13800138000", words, isems=1, emshead=f"a7,3,{index}")
        # and another long reply whose second part never comes
        sim.inject_reply("13800138000", "只有一半", isems=1, emshead="b8,2,1")
        got = await acme.wait_replies(1)
        assert [r.text for r in got] == ["第一段，第二段，第三段。"]
        late = await acme.wait_replies(1, within_s=3)  # after reply_part_wait_s
        assert [r.text for r in late] == ["只有一半"]
        await asyncio.sleep(0.3)
        assert await acme.call("/mo/") == b"0"


async def test_one_account_configured_twice_is_polled_once(
    start_daemon: DaemonFactory, tmp_path: Path
) -> None:
    sim = KINDS["esms100"].simulator()
    async with SimulatorServer(sim) as server:
        vendors = [
            vendor_entry("esms100", server, name="esms-cheap", price_per_segment=0.01),
            vendor_entry("esms100", server, name="esms-dear", price_per_segment=0.02),
        ]
        daemon = await start_daemon(config(tmp_path, vendors, poll_interval_override_s=0.5))
        ingest = daemon.engine.ingest
        assert [(p.account.vendors, p.what) for p in ingest.pollers.pollers] == [
            (("esms-cheap", "esms-dear"), "reports"),
            (("esms-cheap", "esms-dear"), "replies"),
        ]
        acme = LegacyClient(daemon.legacy_url, CPID, PASSWORD)
        cheap = daemon.engine.router.vendors["esms-cheap"].health
        for _ in range(100):  # the balance watcher's first answer, then ours
            if cheap.balance_segments is not None:
                break
            await asyncio.sleep(0.02)
        cheap.record_balance(0)
        assert await acme.send("13800138000", TEXT) == b"0"  # through esms-dear
        assert [r.phone for r in await acme.wait_reports(1)] == ["13800138000"]
        requests = sim.requests
        await asyncio.sleep(1.2)
        # two polls (reports and replies) a half-second, not four
        assert sim.requests - requests <= 6
