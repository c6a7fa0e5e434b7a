"""The chuanglan simulator answers byte-exact, checks like the vendor, and pushes with retries."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from adapters.chuanglan.simulator import ChuanglanSimulator
from adapters.form import urlencode
from adapters.simulator import SimulatorServer
from core.outcome import Outcome

ANSWER = re.compile(rb"\d{14},(\d+)(?:\n(.*))?", re.S)


@pytest.fixture
async def sim() -> AsyncIterator[tuple[ChuanglanSimulator, str, aiohttp.ClientSession]]:
    simulator = ChuanglanSimulator(products=("274463133", "999"))
    async with SimulatorServer(simulator) as server, aiohttp.ClientSession() as session:
        yield simulator, server.url, session


Rig = tuple[ChuanglanSimulator, str, aiohttp.ClientSession]


async def call(rig: Rig, path: str, fields: dict[str, str], method: str = "POST") -> bytes:
    _, url, session = rig
    form = urlencode(fields.items())
    if method == "GET":
        async with session.get(f"{url}{path}?{form}") as resp:
            return await resp.read()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with session.post(url + path, data=form.encode(), headers=headers) as resp:
        return await resp.read()


def fields(**overrides: str) -> dict[str, str]:
    base = {
        "account": "test01",
        "pswd": "123456",
        "mobile": "18900000000,13800138000",
        "msg": "【朗宇信息】您好",
        "needstatus": "true",
        "product": "274463133",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v != "-"}


def code_of(body: bytes) -> str:
    m = ANSWER.fullmatch(body)
    assert m is not None, body
    return m.group(1).decode()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_documented_send(sim: Rig, method: str) -> None:
    body = await call(sim, "/msg/HttpBatchSendSM", fields(), method)
    m = ANSWER.fullmatch(body)
    assert m is not None and m.group(1) == b"0", body
    msgid = m.group(2).decode()
    assert msgid.isdigit()
    accepted = [(a.message_id, a.phone, a.text) for a in sim[0].accepted]
    assert accepted == [
        (msgid, "18900000000", "【朗宇信息】您好"),
        (msgid, "13800138000", "【朗宇信息】您好"),
    ]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"account": "nobody"}, "101"),
        ({"account": "-"}, "101"),
        ({"pswd": "wrong"}, "102"),
        ({"product": "1234567"}, "112"),
        ({"extno": "12a"}, "113"),
        ({"mobile": ""}, "108"),
        ({"mobile": ",".join(["13900000000"] * 50001)}, "108"),
        ({"msg": ""}, "106"),
        ({"msg": "字" * 537}, "106"),
    ],
)
async def test_refusals(sim: Rig, overrides: dict[str, str], code: str) -> None:
    body = await call(sim, "/msg/HttpBatchSendSM", fields(**overrides))
    assert body.split(b",")[1] == code.encode(), body
    assert code_of(body) == code and b"\n" not in body
    assert sim[0].accepted == []


async def test_longest_text_and_no_product(sim: Rig) -> None:
    body = await call(sim, "/msg/HttpBatchSendSM", fields(msg="字" * 536, product="-"))
    assert code_of(body) == "0"


async def test_without_needstatus_there_is_no_msgid_and_no_report(sim: Rig) -> None:
    body = await call(sim, "/msg/HttpBatchSendSM", fields(needstatus="false"))
    assert code_of(body) == "0" and b"\n" not in body
    assert len(sim[0].accepted) == 2 and sim[0].reports == []


async def test_forced_outcome_and_balance(sim: Rig) -> None:
    sim[0].faults.forced_outcome = Outcome.IP_REJECTED
    assert code_of(await call(sim, "/msg/HttpBatchSendSM", fields())) == "117"
    sim[0].faults.forced_outcome = None
    sim[0].faults.balance = 1
    assert code_of(await call(sim, "/msg/HttpBatchSendSM", fields())) == "109"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_balance_lists_every_product(sim: Rig, method: str) -> None:
    sim[0].faults.balance = 500
    body = await call(sim, "/msg/QueryBalance", {"account": "test01", "pswd": "123456"}, method)
    assert re.fullmatch(rb"\d{14},0\n274463133,500\n999,0", body), body
    wrong = await call(sim, "/msg/QueryBalance", {"account": "test01", "pswd": "x"}, method)
    assert code_of(wrong) == "102" and b"\n" not in wrong


async def _receiver(statuses: list[int]) -> tuple[web.AppRunner, str, list[str]]:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.rel_url.raw_query_string)
        return web.Response(status=statuses.pop(0) if statuses else 200, text="0")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/push?x=1", seen


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.02)


async def test_push_is_retried_then_delivered(sim: Rig) -> None:
    runner, url, seen = await _receiver([500, 503])
    simulator = sim[0]
    simulator.faults.push_url = url
    simulator.push_retry_delays_s = (0.01, 0.01, 0.01)
    simulator.inject_reply("13800210021", "好 %&=+", isems=1, emshead="255,5,5")
    await _until(lambda: len(seen) >= 3)
    await runner.cleanup()
    assert len(seen) == 3 and len(set(seen)) == 1
    assert seen[0].startswith("x=1&receiver=admin&pswd=12345&moTime=")
    assert seen[0].endswith(
        "&destcode=1065751600001&mobile=13800210021&msg=%E5%A5%BD+%25%26%3D%2B"
        "&isems=1&emshead=255%2C5%2C5"
    )
    assert simulator.push_failures == 0


async def test_push_is_given_up_after_the_retries(sim: Rig) -> None:
    runner, url, seen = await _receiver([403] * 10)
    simulator = sim[0]
    simulator.faults.push_url = url
    simulator.faults.report_delay_s = 0.0
    simulator.push_retry_delays_s = (0.01, 0.01)
    await call(sim, "/msg/HttpBatchSendSM", fields(mobile="13900210021"))
    await _until(lambda: simulator.push_failures == 1)
    await runner.cleanup()
    assert simulator.push_failures == 1 and len(seen) == 3
    assert re.fullmatch(
        r"x=1&receiver=admin&pswd=12345&msgid=\d+&reportTime=\d{10}"
        r"&mobile=13900210021&status=DELIVRD",
        seen[0],
    )
