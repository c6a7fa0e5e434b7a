"""The c123 simulator refuses what the document says c123 refuses, with its codes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.c123.simulator import C123Simulator
from adapters.simulator import SimulatorServer

AUTH = "ac=1001%40500008880001&authkey=87B01469201D6557C2685137EB3B5DEC"
SEND = f"action=sendOnce&{AUTH}&cgid=80"


@pytest.fixture
async def call() -> AsyncIterator[tuple[C123Simulator, aiohttp.ClientSession, str]]:
    sim = C123Simulator()
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        yield sim, session, server.url


async def post(url: str, session: aiohttp.ClientSession, path: str, form: str) -> bytes:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with session.post(url + path, data=form.encode(), headers=headers) as resp:
        assert resp.status == 200 and resp.content_type == "text/xml"
        return await resp.read()


@pytest.mark.parametrize(
    ("path", "form", "code"),
    [
        ("/OpenPlatform/OpenApi", "action=getBalance&ac=1001&authkey=x", "0"),
        ("/OpenPlatform/OpenApi", "action=getBalance&ac=1002%40500008880001&authkey=x", "-5"),
        ("/DataPlatform/DataApi", "action=getReply&ac=1002%40500008880001&authkey=x", "-2"),
        ("/OpenPlatform/OpenApi", "action=getBalance&ac=1001%40500008880001&authkey=x", "-2"),
        ("/OpenPlatform/OpenApi", "action=getReply&" + AUTH, "-4"),  # wrong interface
        ("/OpenPlatform/OpenApi", f"action=sendOnce&{AUTH}&cgid=81&c=x&m=13900000000", "-8"),
        ("/OpenPlatform/OpenApi", f"{SEND}&c=&m=13900000000", "-4"),
        ("/OpenPlatform/OpenApi", f"{SEND}&c=x&m=,", "-4"),
        ("/OpenPlatform/OpenApi", f"{SEND}&c=%FF&m=13900000000", "-4"),  # not UTF-8
        ("/OpenPlatform/OpenApi", f"{SEND}&c={'x' * 1001}&m=13900000000", "-4"),
        ("/OpenPlatform/OpenApi", f"{SEND}&c=x&m=13900000000&t=20130721182038", "-4"),
    ],
)
async def test_refusals(
    call: tuple[C123Simulator, aiohttp.ClientSession, str], path: str, form: str, code: str
) -> None:
    sim, session, url = call
    action = form.partition("&")[0].removeprefix("action=")
    body = await post(url, session, path, form)
    assert body == f'<xml name="{action}" result="{code}"/>'.encode()
    assert sim.accepted == []


async def test_send_by_get_and_balance_in_money(
    call: tuple[C123Simulator, aiohttp.ClientSession, str],
) -> None:
    sim, session, url = call
    sim.faults.balance = 10
    query = f"{SEND}&c=%E6%B5%8B%E8%AF%95&m=13900000000,13900000001"
    async with session.get(f"{url}/OpenPlatform/OpenApi?{query}") as resp:
        body = await resp.read()
    assert body == (
        b'<xml name="sendOnce" result="1">\n'
        b'<Item cid="500008880001" sid="1001" msgid="100000001" total="2" price="0.05"'
        b' remain="0.400"/>\n</xml>'
    )
    assert [(m.phone, m.text, m.message_id) for m in sim.accepted] == [
        ("13900000000", "测试", "100000001"),
        ("13900000001", "测试", "100000001"),
    ]
