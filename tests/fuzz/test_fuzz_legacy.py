"""The legacy port under a few thousand fuzzed cases (issue 14, "fuzzing in the tests").

The daemon runs as a process of its own (:class:`tests.fuzz.target.LocalDaemon`)
with one-second head and body time-outs; :data:`CASES` seeded cases, about
three in five parameter-level and the rest raw HTTP, run over 32 connections.
Every answer must be one the documents allow, the daemon's log must hold no
traceback or error, its RSS must grow by less than 50 MB, and a good send
must still be answered ``0`` at the end.  A failure prints each failed
case's seed, index and bytes; ``python -m tests.fuzz --seed S --case I``
replays one.  ``SMSPROXY_FUZZ_SEED`` runs another seed.

The oracle itself is tested first, against a server that answers wrongly
on purpose: a fuzz suite that cannot fail proves nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fuzz.answers import Answer
from tests.fuzz.campaign import Report, fuzz
from tests.fuzz.case import Account, Case, Request, TargetLimits, Write
from tests.fuzz.cases import make_case
from tests.fuzz.expect import expected_codes
from tests.fuzz.oracle import Ending, Exchange, judge
from tests.fuzz.runner import Played, Runner, Tally
from tests.fuzz.target import LocalDaemon
from tests.fuzz.values import MISSING, UNREADABLE

SEED = int(os.environ.get("SMSPROXY_FUZZ_SEED", "20261214"))
CASES = 3000
ACCOUNT = Account("fuzz", "fuzz-pass-1")
LIMITS = TargetLimits()


async def test_fuzzed_requests_get_documented_answers_and_cost_nothing(tmp_path: Path) -> None:
    async with LocalDaemon(tmp_path, SEED) as target:
        report = await fuzz(target, seed=SEED, count=CASES, connections=32)
    print(report.summary())
    faults = report.faults()
    assert not faults, "\n\n".join([report.summary(), *faults])
    assert report.tally.cases == CASES
    # The run reached what it is for: sends, every endpoint, every HTTP refusal.
    codes, statuses = report.tally.codes, report.tally.statuses
    assert codes["/mt/ success"] >= 50, codes  # about 190 on an idle machine
    for endpoint in ("qamount", "qreport", "mo", "ent"):
        assert codes[f"/{endpoint}/ success"] > 0, codes
    for status in (400, 404, 405, 408, 431):
        assert statuses[status] > 0, statuses


def test_a_case_is_made_again_from_its_seed_and_index() -> None:
    for index in (0, 1, 977, 2999):
        assert make_case(SEED, index, ACCOUNT, LIMITS) == make_case(SEED, index, ACCOUNT, LIMITS)
    assert make_case(SEED, 5, ACCOUNT, LIMITS) != make_case(SEED + 1, 5, ACCOUNT, LIMITS)


@pytest.mark.parametrize(
    ("endpoint", "meanings", "codes"),
    [
        ("mt", {"cppwd": ACCOUNT.cppwd}, {-2}),
        ("mt", {"cpid": ACCOUNT.cpid, "cppwd": UNREADABLE}, {-3}),
        ("qamount", {"cpid": "nobody", "cppwd": ACCOUNT.cppwd}, {-1, -9}),
        ("qreport", {"cpid": f" {ACCOUNT.cpid} ", "cppwd": ACCOUNT.cppwd}, {0, -9, -15}),
        ("mt", {"cpid": ACCOUNT.cpid, "cppwd": ACCOUNT.cppwd, "phone": "138"}, {-4, -16, -9, -15}),
        (
            "mt",
            {"cpid": ACCOUNT.cpid, "cppwd": ACCOUNT.cppwd, "msgtext": "x" * 135, "phone": MISSING},
            {-5, -7, -9, -15},
        ),
        (
            "mt",
            {
                "cpid": ACCOUNT.cpid,
                "cppwd": ACCOUNT.cppwd,
                "msgtext": "hi",
                "phone": "+8613800138000",
            },
            {0, -9, -10, -11, -15, -17},
        ),
        ("ent", {"cpid": ACCOUNT.cpid, "oldpwd": ACCOUNT.cppwd, "newpwd": " x "}, {-1}),
    ],
)
def test_the_codes_a_request_allows_follow_from_its_fields(
    endpoint: str, meanings: dict[str, str], codes: set[int]
) -> None:
    allowed = expected_codes(endpoint, meanings, ACCOUNT, LIMITS, oversize=False, unsure=False)
    assert allowed == frozenset(codes)


def answer(status: int, body: bytes, close: bool = False) -> Answer:
    headers = [(b"content-length", b"%d" % len(body))]
    if close:
        headers.append((b"connection", b"close"))
    return Answer(status, tuple(headers), body)


SEND = Case(
    0, 0, "test", (Write(b"GET /mt/ HTTP/1.1\r\n\r\n"),), (Request("mt", answered=True),), answers=1
)


@pytest.mark.parametrize(
    ("answers", "ending", "fault"),
    [
        ([answer(500, b"oops", close=True)], Ending.EOF, "HTTP 500"),
        ([answer(200, b"-110")], Ending.ENOUGH, "is not an answer of /mt/"),
        ([answer(200, b"Traceback (most recent call last)")], Ending.ENOUGH, "not an answer"),
        ([answer(100, b""), answer(200, b"0")], Ending.ENOUGH, "interim answer 100"),
        ([answer(400, b"bad request")], Ending.EOF, "without Connection: close"),
        ([answer(408, b"", close=True)], Ending.TIMEOUT, "neither an answer nor an end"),
        ([], Ending.EOF, "no answer"),
        ([answer(503, b"busy", close=True)], Ending.EOF, "not -15"),
    ],
)
def test_the_oracle_refuses_what_the_documents_do_not_allow(
    answers: list[Answer], ending: Ending, fault: str
) -> None:
    faults = judge(SEND, Exchange(answers, ending, 1.0))
    assert any(fault in f for f in faults), faults


def test_a_408_is_a_fault_only_when_it_came_before_the_time_out() -> None:
    prompt = replace(SEND, requests=(Request("mt", statuses=frozenset({200, 503})),))
    timed_out = [answer(408, b"request timeout", close=True)]
    assert judge(prompt, Exchange(timed_out, Ending.EOF, 5.0, [0.3], 0.3, 1.0)) != []
    # The writes of a case on a loaded machine may lag: the daemon is right then.
    assert judge(prompt, Exchange(timed_out, Ending.EOF, 5.0, [1.2], 1.2, 1.0)) == []


def test_the_oracle_reads_report_and_reply_lists() -> None:
    reports = Case(0, 0, "t", (), (Request("qreport"), Request("mo"), Request("qreport")))
    good = [
        answer(200, b"2\n2026-01-02 03:04:05||13800138000||1\n2026-01-02 03:04:06||13900139000||2"),
        answer(200, "1\n2026-01-02 03:04##13800138000##好的".encode("gbk")),
        answer(200, b"0"),
    ]
    assert judge(reports, Exchange(good, Ending.EOF, 1.0)) == []
    bad = [answer(200, b"2\n2026-01-02 03:04:05||13800138000||1"), *good[1:]]
    assert judge(reports, Exchange(bad, Ending.EOF, 1.0)) != []


def test_a_report_handed_out_twice_fails_the_run() -> None:
    tally = Tally()
    listing = b"1\n2026-01-02 03:04:05||13800138000||1"
    played = Played(SEND, [answer(200, listing)], Ending.ENOUGH, [], 0.1)
    reports = replace(SEND, requests=(Request("qreport"),))
    for _ in range(2):
        tally.add(replace(played, case=reports))
    report = Report(SEED, 0, 2, tally, before_send="0", after_send="0")
    assert report.faults() == ["handed out 2 times: /qreport/ 2026-01-02 03:04:05||13800138000||1"]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def wrong_server() -> AsyncIterator[Callable[[bytes | None], Awaitable[int]]]:
    """A server that answers every request with the given bytes, or never (None)."""
    servers: list[asyncio.Server] = []

    async def start(reply: bytes | None) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            if reply is None:
                await asyncio.sleep(30)
            else:
                writer.write(reply)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    ("reply", "fault"),
    [
        (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\n-110", "HTTP 500"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n-110", "not an answer"),
        (b"HTTP/1.1 200 OK\r\n\r\n0", "Content-Length"),
        (None, "neither an answer nor an end"),
    ],
)
async def test_a_run_fails_on_a_daemon_that_answers_wrongly(
    wrong_server: Callable[[bytes | None], Awaitable[int]], reply: bytes | None, fault: str
) -> None:
    port = await wrong_server(reply)
    runner = Runner("127.0.0.1", port, connections=1, within_s=0.5)
    tally = await runner.run(iter([SEND]))
    assert tally.failed == 1
    assert any(fault in f for f in tally.failures[0].faults), tally.failures[0].faults
    assert "seed 0 case 0" in tally.failures[0].describe()
