"""A legacy esms100 client, as the tests of reports and replies need one.

Its clock is in China (the default ``legacy.timezone``): the times it reads
come back aware, so tests compare instants whatever the host's zone.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
from yarl import URL

from adapters.form import quote

CHINA = ZoneInfo("Asia/Shanghai")
# /qreport/: a count line, then "send time||number||status" lines (esms100.txt, 7).
REPORT_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\|\|(1[3-9]\d{9})\|\|([012])$")
# /mo/: a count line, then "time##number##text" records joined by "||" (esms100.txt, 5).
REPLY_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d)##(1[3-9]\d{9})##(.*)$", re.DOTALL)


@dataclass(frozen=True)
class ReportLine:
    sent: datetime
    phone: str
    status: int


@dataclass(frozen=True)
class ReplyLine:
    time: datetime
    phone: str
    text: str


def china_time(wall: str) -> datetime:
    return datetime.fromisoformat(wall).replace(tzinfo=CHINA)


def parse_reports(body: bytes) -> list[ReportLine]:
    """Check the exact /qreport/ format and read it."""
    text = body.decode("gbk")
    lines = text.split("\n")
    assert lines[0] == str(len(lines) - 1), text
    out = []
    for line in lines[1:]:
        m = REPORT_LINE.match(line)
        assert m is not None, f"not an esms100 report line: {line!r}"
        out.append(ReportLine(china_time(m[1]), m[2], int(m[3])))
    return out


def parse_replies(body: bytes) -> list[ReplyLine]:
    """Check the exact /mo/ format and read it."""
    text = body.decode("gbk")
    if text == "0":
        return []
    head, sep, rest = text.partition("\n")
    assert sep, text
    records = rest.split("||")
    assert head == str(len(records)), text
    out = []
    for record in records:
        m = REPLY_RECORD.match(record)
        assert m is not None, f"not an esms100 reply record: {record!r}"
        out.append(ReplyLine(china_time(m[1]), m[2], m[3]))
    return out


class LegacyClient:
    def __init__(self, url: str, cpid: str, password: str) -> None:
        self.url = url
        self.cpid = cpid
        self.cppwd = hashlib.md5(password.encode()).hexdigest().upper()

    async def call(self, path: str, query: str = "") -> bytes:
        auth = f"cpid={self.cpid}&cppwd={self.cppwd}"
        url = URL(f"{self.url}{path}?{auth}" + (f"&{query}" if query else ""), encoded=True)
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            assert resp.status == 200
            return await resp.read()

    async def send(self, phones: list[str] | str, text: str) -> bytes:
        numbers = phones if isinstance(phones, str) else ",".join(phones)
        return await self.call("/mt/", f"phone={numbers}&msgtext={quote(text)}&encode=utf8")

    async def reports(self) -> list[ReportLine]:
        return parse_reports(await self.call("/qreport/"))

    async def replies(self) -> list[ReplyLine]:
        return parse_replies(await self.call("/mo/"))

    async def wait_reports(self, count: int, within_s: float = 10.0) -> list[ReportLine]:
        """Poll /qreport/ until ``count`` lines came (more would fail the assert)."""
        got: list[ReportLine] = []
        deadline = time.monotonic() + within_s
        while len(got) < count and time.monotonic() < deadline:
            got += await self.reports()
            if len(got) < count:
                await asyncio.sleep(0.05)
        assert len(got) == count, got
        return got

    async def wait_replies(self, count: int, within_s: float = 10.0) -> list[ReplyLine]:
        got: list[ReplyLine] = []
        deadline = time.monotonic() + within_s
        while len(got) < count and time.monotonic() < deadline:
            got += await self.replies()
            if len(got) < count:
                await asyncio.sleep(0.05)
        assert len(got) == count, got
        return got
