"""The sms.cn simulator speaks the document's bytes, caps and charsets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from adapters.base import Reply
from adapters.simulator import SimulatorServer
from adapters.smscn import wire
from adapters.smscn.adapter import SmscnAdapter
from adapters.smscn.codes import description_of
from adapters.smscn.simulator import SmscnSimulator
from config.vendor_kinds import SmscnSettings
from core.send import HttpRequest

PWD = "b9887c5ebb23ebb294acab183ecf0769"
AUTH = f"uid=test&pwd={PWD}"
SENT = "sms&stat=100&message=发送成功".encode("gbk")


class Vendor:
    def __init__(
        self, sim: SmscnSimulator, server: SimulatorServer, session: aiohttp.ClientSession
    ) -> None:
        self.sim, self.server, self.session = sim, server, session

    async def get(self, path: str, query: str) -> bytes:
        async with self.session.get(URL(f"{self.server.url}{path}?{query}", encoded=True)) as r:
            assert r.status == 200
            return await r.read()

    async def post(self, path: str, form: str) -> bytes:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with self.session.post(
            f"{self.server.url}{path}", data=form.encode(), headers=headers
        ) as r:
            return await r.read()


@pytest.fixture
async def vendor() -> AsyncIterator[Vendor]:
    sim = SmscnSimulator()
    sim.faults.report_delay_s = 0.0
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        yield Vendor(sim, server, session)


def numbers(n: int) -> str:
    return ",".join(f"139{i:08d}" for i in range(n))


async def test_the_documents_send_example_in_gbk(vendor: Vendor) -> None:
    query = (
        f"{AUTH}&mobile=13900008888,1390000test,13100006666"
        "&mobileids=1390000888812869461937,1390000test12869461937,1310000666612869461937"
        "&content=%B7%A2%CB%CD%B2%E2%CA%D4"
    )
    assert await vendor.get("/mt/", query) == SENT
    took = [(m.phone, m.message_id, m.text) for m in vendor.sim.accepted]
    assert took == [
        ("13900008888", "1390000888812869461937", "发送测试"),
        ("13100006666", "1310000666612869461937", "发送测试"),
    ]


async def test_utf8_needs_encode_utf8(vendor: Vendor) -> None:
    content = "&content=%E5%A5%BD%E7%9A%84"  # 好的 in UTF-8
    assert await vendor.get("/mt/", f"{AUTH}&mobile=13900008888&encode=utf8{content}") == SENT
    assert await vendor.get("/mt/", f"{AUTH}&mobile=13900008888{content}") == SENT
    assert [m.text for m in vendor.sim.accepted] == ["好的", "濂界殑"]


@pytest.mark.parametrize(
    ("method", "n", "code"),
    [("GET", 50, 100), ("GET", 51, 106), ("POST", 2000, 100), ("POST", 2001, 106)],
)
async def test_number_caps(vendor: Vendor, method: str, n: int, code: int) -> None:
    form = f"{AUTH}&mobile={numbers(n)}&content=hi"
    body = await (vendor.get("/mt/", form) if method == "GET" else vendor.post("/mt/", form))
    assert body == answer(code)
    assert len(vendor.sim.accepted) == (n if code == 100 else 0)


def answer(code: int) -> bytes:
    return f"sms&stat={code}&message={description_of(code)}".encode("gbk")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("uid=test&pwd=B9887C5EBB23EBB294ACAB183ECF0769&mobile=13900008888&content=a", 101),
        ("uid=other&pwd=b9887c5ebb23ebb294acab183ecf0769&mobile=13900008888&content=a", 101),
        (f"{AUTH}&mobile=13900008888", 108),
        (f"{AUTH}&content=a", 108),
        (f"{AUTH}&mobile=12345&content=a", 112),
        (f"{AUTH}&mobile=13900008888&content=%E5%A5&encode=utf8", 104),
        (f"{AUTH}&mobile=13900008888&content={'a' * 501}", 105),
    ],
)
async def test_refusals(vendor: Vendor, query: str, code: int) -> None:
    assert await vendor.get("/mt/", query) == answer(code)
    assert vendor.sim.accepted == []


async def test_unbound_ip_is_117_in_each_endpoints_shape(vendor: Vendor) -> None:
    vendor.sim.faults.allowed_ips = ["10.9.9.9"]
    assert await vendor.get("/mt/", AUTH) == answer(117)
    assert await vendor.get("/st/", AUTH) == answer(117)
    assert await vendor.get("/rx/", AUTH) == b"117"


async def test_balance_and_sent_count(vendor: Vendor) -> None:
    vendor.sim.faults.balance = 42
    assert await vendor.get("/mm/", AUTH) == b"sms&stat=100&remain=42"
    await vendor.get("/mt/", f"{AUTH}&mobile={numbers(2)}&content=hi")
    assert await vendor.get("/mm/", AUTH) == b"sms&stat=100&remain=40"
    assert await vendor.get("/mm/", f"{AUTH}&cmd=send") == b"sms&stat=100&remain=2"


async def test_reports_carry_the_clients_mobileids(vendor: Vendor) -> None:
    query = f"{AUTH}&mobile=13900008888&mobileids=1390000888800000000000010000&content=a"
    assert await vendor.post("/mt/", query) == SENT
    body = await vendor.get("/st/", AUTH)
    phone, status, ident, when = body.decode("gbk").split(",")
    assert (phone, status, ident) == ("13900008888", "100", "1390000888800000000000010000")
    assert when.startswith(" ") and datetime.strptime(when.strip(), wire.TIME_FORMAT)
    assert await vendor.get("/st/", AUTH) == b""


async def test_replies_are_taken_once(vendor: Vendor) -> None:
    vendor.sim.inject_reply("13912341234", "好||的")
    body = await vendor.get("/rx/", AUTH)
    head, record = body.decode("gbk").split("{&}")
    phone, text, _, gateway = record.split("||")
    assert (head, phone, text, gateway) == ("100", "13912341234", "好｜｜的", "106811222728")
    assert await vendor.get("/rx/", AUTH) == b""
    assert await vendor.get("/rx/", "uid=test&pwd=x") == b"101"


async def test_replies_pushed_when_asked(vendor: Vendor) -> None:
    adapter = SmscnAdapter(
        SmscnSettings(
            kind="smscn",
            name="smscn",
            base_url=vendor.server.url,
            price_per_segment=0.04,
            uid="test",
            password="123123",
        )
    )
    got: list[Reply] = []

    async def receive(request: web.Request) -> web.Response:
        pushed = HttpRequest(
            "GET", request.path, request.rel_url.raw_query_string, await request.read()
        )
        result = adapter.parse_push(pushed)
        got.extend(result.replies)
        return web.Response(status=result.answer.status, body=result.answer.body)

    app = web.Application()
    app.router.add_get("/push", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        vendor.sim.faults.push_url = f"http://127.0.0.1:{runner.addresses[0][1]}/push"
        vendor.sim.push_replies = True
        vendor.sim.inject_reply("13912341234", "好的 收到")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
    finally:
        await runner.cleanup()
    assert [(r.phone, r.text) for r in got] == [("13912341234", "好的 收到")]
    assert vendor.sim.replies == []
