"""Legacy client -> daemon -> esms100 simulator, over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path
from urllib.parse import quote_plus

import aiohttp
import pytest
from yarl import URL

from adapters.simulator import SimulatorServer
from proxy.serve import Daemon
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config, esms100_vendor

TEXT = "【ACME】验证码 246810，请勿泄露。"
CPPWD = hashlib.md5(PASSWORD.encode()).hexdigest().upper()


async def call(
    daemon: Daemon,
    path: str,
    query: str = "",
    *,
    body: bytes | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> tuple[int, bytes]:
    url = URL(f"{daemon.legacy_url}{path}" + (f"?{query}" if query else ""), encoded=True)
    async with aiohttp.ClientSession() as session:
        if body is None:
            async with session.get(url) as resp:
                return resp.status, await resp.read()
        async with session.post(url, data=body, headers={"Content-Type": content_type}) as resp:
            return resp.status, await resp.read()


def auth(cpid: str = CPID, cppwd: str = CPPWD) -> str:
    return f"cpid={cpid}&cppwd={cppwd}"


@pytest.fixture
async def daemon(start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path) -> Daemon:
    return await start_daemon(base_config(tmp_path, vendors=[esms100_vendor(esms100)]))


async def test_php_client_utf8(daemon: Daemon, esms100: SimulatorServer) -> None:
    query = f"{auth()}&phone=13800138000,&msgtext={quote_plus(TEXT)}&encode=utf8"
    assert await call(daemon, "/mt/", query) == (200, b"0")
    assert esms100.simulator.phones_of(TEXT) == ["13800138000"]


async def test_java_client_gbk_get(daemon: Daemon, esms100: SimulatorServer) -> None:
    query = f"{auth()}&phone=13800138000&msgtext={quote_plus(TEXT, encoding='gbk')}"
    assert await call(daemon, "/mt/", query) == (200, b"0")
    assert esms100.simulator.phones_of(TEXT) == ["13800138000"]


async def test_gbk_form_post(daemon: Daemon, esms100: SimulatorServer) -> None:
    body = f"{auth()}&phone=13800138000,13900139000&msgtext={quote_plus(TEXT, encoding='gbk')}"
    assert await call(daemon, "/mt/", body=body.encode("ascii")) == (200, b"0")
    assert sorted(esms100.simulator.phones_of(TEXT)) == ["13800138000", "13900139000"]


async def test_numbers_are_normalised(daemon: Daemon, esms100: SimulatorServer) -> None:
    phone = quote_plus(" 13800138000 ,+8613800138000,8613900139000, 13700137000,,")
    query = f"{auth()}&phone={phone}&msgtext=hi"
    assert await call(daemon, "/mt/", query) == (200, b"0")
    assert esms100.simulator.phones_of("hi") == ["13800138000", "13900139000", "13700137000"]


async def test_accepted_recipients_are_recorded(
    daemon: Daemon, esms100: SimulatorServer, tmp_path: Path
) -> None:
    query = f"{auth()}&phone=13800138000,13900139000&msgtext=hello"
    assert await call(daemon, "/mt/", query) == (200, b"0")

    def rows() -> list[tuple[str, ...]]:
        with sqlite3.connect(tmp_path / "state.sqlite3") as db:
            return db.execute(
                "SELECT cpid, vendor, phone, outcome, vendor_code FROM send_records ORDER BY phone"
            ).fetchall()

    # On disk before the request left (in flight), and accepted once the
    # outcome, written while the client reads its 0, is.
    assert [r[2] for r in rows()] == ["13800138000", "13900139000"]
    for _ in range(100):
        if all(r[3] == "accepted" for r in rows()):
            break
        await asyncio.sleep(0.02)
    assert rows() == [
        (CPID, "esms100", "13800138000", "accepted", "0"),
        (CPID, "esms100", "13900139000", "accepted", "0"),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cppwd=X&phone=13800138000&msgtext=hi", b"-2"),
        ("cpid=acme&phone=13800138000&msgtext=hi", b"-3"),
        (f"cpid=acme&cppwd={'0' * 32}&phone=13800138000&msgtext=hi", b"-1"),
        (f"cpid=nobody&cppwd={CPPWD}&phone=13800138000&msgtext=hi", b"-1"),
        (f"{auth()}&phone=13800138000", b"-4"),
        (f"{auth()}&phone=13800138000&msgtext=", b"-4"),
        (f"{auth()}&msgtext=hi", b"-5"),
        (f"{auth()}&phone=13800138000&msgtext={'x' * 135}", b"-7"),
        (f"{auth()}&phone=12345,abc&msgtext=hi", b"-16"),
        (f"{auth()}&phone=13800138000&msgtext=%E4%B8%G0", b"-4"),
        (f"{auth()}&phone=13800138000&msgtext=50%", b"-4"),
        (f"cpid=%ZZ&cppwd={CPPWD}&phone=13800138000&msgtext=hi", b"-2"),
    ],
    ids=[
        "no-cpid",
        "no-cppwd",
        "bad-pwd",
        "no-account",
        "no-text",
        "empty-text",
        "no-phone",
        "too-long",
        "no-valid-number",
        "bad-escape",
        "lone-percent",
        "bad-cpid",
    ],
)
async def test_bad_input_gets_its_code(
    daemon: Daemon, esms100: SimulatorServer, query: str, expected: bytes
) -> None:
    assert await call(daemon, "/mt/", query) == (200, expected)
    assert esms100.simulator.accepted == []


async def test_134_characters_is_not_too_long(daemon: Daemon, esms100: SimulatorServer) -> None:
    text = "测" * 134
    query = f"{auth()}&phone=13800138000&msgtext={quote_plus(text)}&encode=utf8"
    assert await call(daemon, "/mt/", query) == (200, b"0")
    assert esms100.simulator.phones_of(text) == ["13800138000"]


async def test_1001_numbers(daemon: Daemon, esms100: SimulatorServer) -> None:
    phones = ",".join(f"139{i:08d}" for i in range(1001))
    assert await call(daemon, "/mt/", f"{auth()}&phone={phones}&msgtext=hi") == (200, b"-8")
    body = f"{auth()}&phone={phones}&msgtext=hi".encode()
    assert await call(daemon, "/mt/", body=body) == (200, b"-8")
    assert esms100.simulator.accepted == []
    # and 1000 go through, as one vendor request
    phones = ",".join(f"139{i:08d}" for i in range(1000))
    assert await call(daemon, "/mt/", f"{auth()}&phone={phones}&msgtext=hi") == (200, b"0")
    assert len(esms100.simulator.accepted) == 1000


async def test_10_mb_body_and_the_daemon_keeps_serving(
    daemon: Daemon, esms100: SimulatorServer
) -> None:
    body = f"{auth()}&msgtext=hi&phone=".encode() + b"13800138000," * (10 * 1024 * 1024 // 12)
    assert await call(daemon, "/mt/", body=body) == (200, b"-8")
    assert await call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=hi") == (200, b"0")


async def test_a_request_line_beyond_max_body_bytes_is_minus_8(
    daemon: Daemon, esms100: SimulatorServer
) -> None:
    # 1000 numbers fit in the default 256 KiB; a megabyte of them does not.
    phones = "13800138000," * (1024 * 1024 // 12)
    assert await call(daemon, "/mt/", f"{auth()}&msgtext=hi&phone={phones}") == (200, b"-8")
    assert await call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=hi") == (200, b"0")
    assert esms100.simulator.phones_of("hi") == ["13800138000"]


async def test_an_ent_beyond_max_body_bytes_is_minus_1(daemon: Daemon) -> None:
    # /ent/ answers only 0 or -1, as esms100 documents.
    body = f"cpid={CPID}&oldpwd=X&newpwd=".encode() + b"a" * (1024 * 1024)
    assert await call(daemon, "/ent/", body=body) == (200, b"-1")
    assert await call(daemon, "/ent/", f"cpid={CPID}&oldpwd=X&newpwd={'a' * 1024 * 1024}") == (
        200,
        b"-1",
    )


async def test_unknown_paths_and_methods(daemon: Daemon, esms100: SimulatorServer) -> None:
    assert (await call(daemon, "/nope/", auth()))[0] == 404
    url = f"{daemon.legacy_url}/mt/?{auth()}&phone=13800138000&msgtext=hi"
    async with aiohttp.ClientSession() as session:
        for method in ("HEAD", "PUT", "DELETE"):
            async with session.request(method, url) as resp:
                assert resp.status == 405, method
    # HEAD would have sent an SMS and thrown the answer away.
    assert esms100.simulator.accepted == []


async def test_client_rate_limit(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    config["clients"][0]["rate_per_s"] = 2
    daemon = await start_daemon(config)
    answers = [
        await call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=hi{i}") for i in range(4)
    ]
    assert [a[1] for a in answers] == [b"0", b"0", b"-15", b"-15"]
    assert len(esms100.simulator.accepted) == 2
    registry = daemon.state.metrics.registry
    assert registry.get_sample_value("smsproxy_client_over_rate_total", {"client": CPID}) == 2


async def test_allowed_ips(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    config["clients"][0]["allowed_ips"] = ["10.1.2.0/24"]
    daemon = await start_daemon(config)
    assert await call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=hi") == (200, b"-1")
    config["clients"][0]["allowed_ips"] = ["127.0.0.0/8"]
    config["state"]["path"] = str(tmp_path / "other.sqlite3")
    daemon = await start_daemon(config)
    assert await call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=hi") == (200, b"0")


async def test_vendor_out_of_balance_is_minus_10(daemon: Daemon, esms100: SimulatorServer) -> None:
    esms100.simulator.faults.balance = 0
    assert await call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=hi") == (200, b"-10")


async def test_vendor_silent_is_minus_17(daemon: Daemon, esms100: SimulatorServer) -> None:
    esms100.simulator.faults.hang = True
    assert await call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=hi") == (200, b"-17")


async def test_vendor_down_is_minus_17(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    vendor = esms100_vendor(esms100, base_url="http://127.0.0.1:9")
    daemon = await start_daemon(base_config(tmp_path, vendors=[vendor]))
    assert await call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=hi") == (200, b"-17")


async def test_client_quota(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    config["clients"][0]["quota"] = 3
    daemon = await start_daemon(config)
    assert await call(daemon, "/qamount/", auth()) == (200, b"3")
    ok = await call(daemon, "/mt/", f"{auth()}&phone=13800138000,13900139000&msgtext=hi")
    assert ok == (200, b"0")
    assert await call(daemon, "/qamount/", auth()) == (200, b"1")
    assert await call(daemon, "/mt/", f"{auth()}&phone=13800138000,13900139000&msgtext=bye") == (
        200,
        b"-10",
    )
    assert len(esms100.simulator.accepted) == 2


async def test_qamount_without_quota_is_what_vendor_balance_buys(
    daemon: Daemon, esms100: SimulatorServer
) -> None:
    # The balance watcher queried the simulator once at start-up; until its
    # answer is in, the balance is unknown and /qamount/ answers its floor.
    for _ in range(50):
        status, body = await call(daemon, "/qamount/", auth())
        if body == b"10000000":
            break
        await asyncio.sleep(0.02)
    assert (status, body) == (200, b"10000000")


async def test_empty_reports_and_replies(daemon: Daemon) -> None:
    assert await call(daemon, "/qreport/", auth()) == (200, b"0")
    assert await call(daemon, "/mo/", auth()) == (200, b"0")
    assert await call(daemon, "/qreport/", "cpid=acme&cppwd=WRONG") == (200, b"-1")
    assert await call(daemon, "/mo/", body=auth().encode()) == (200, b"0")


async def test_password_change_survives_restart(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    daemon = await start_daemon(config)
    assert await call(daemon, "/ent/", f"cpid={CPID}&oldpwd={CPPWD}&newpwd=n3w-pass") == (200, b"0")
    new = hashlib.md5(b"n3w-pass").hexdigest().upper()
    assert await call(daemon, "/qreport/", auth()) == (200, b"-1")
    assert await call(daemon, "/qreport/", auth(cppwd=new)) == (200, b"0")
    await daemon.stop()
    again = await start_daemon(config)
    assert await call(again, "/qreport/", auth()) == (200, b"-1")
    assert await call(again, "/qreport/", auth(cppwd=new.lower())) == (200, b"0")
    assert await call(again, "/ent/", f"cpid={CPID}&oldpwd={CPPWD}&newpwd=x") == (200, b"-1")
    assert await call(again, "/ent/", f"cpid={CPID}&oldpwd={new}&newpwd={'y' * 21}") == (200, b"-1")


async def test_answers_are_bare_gbk_text(daemon: Daemon) -> None:
    url = f"{daemon.legacy_url}/mt/?cpid=acme"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=gbk"
        assert await resp.read() == b"-3"


async def test_a_retry_after_a_restart_is_not_sent_again(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    daemon = await start_daemon(config)
    query = f"{auth()}&phone=13800138000,13900139000&msgtext=otp+4711"
    assert await call(daemon, "/mt/", query) == (200, b"0")
    await daemon.stop()
    again = await start_daemon(config)
    assert await call(again, "/mt/", query) == (200, b"0")
    assert sorted(esms100.simulator.phones_of("otp 4711")) == ["13800138000", "13900139000"]


async def test_sends_beyond_max_in_flight_wait_their_turn(
    start_daemon: DaemonFactory, esms100: SimulatorServer, tmp_path: Path
) -> None:
    config = base_config(tmp_path, vendors=[esms100_vendor(esms100)])
    config["legacy"] = {"max_sends_in_flight": 1}
    daemon = await start_daemon(config)
    esms100.simulator.faults.latency_s = 0.3
    started = asyncio.get_running_loop().time()
    answers = await asyncio.gather(
        *(call(daemon, "/mt/", f"{auth()}&phone=13800138000&msgtext=turn{i}") for i in range(3))
    )
    assert answers == [(200, b"0")] * 3
    # one at a time: three vendor round trips of 0.3 s, not one
    assert asyncio.get_running_loop().time() - started >= 0.85
