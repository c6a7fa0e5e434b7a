"""esms100 as a vendor: its report and reply polls, as the document shows them.

The vendor hands each report and reply out once, so a poll's listing keeps
what it understands even when a line of it is not: dropping the batch for
one bad line would lose the good ones for ever.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from adapters.base import DeliveryStatus, PollResult
from adapters.registry import make_adapter
from config.loader import settings_from
from core.outcome import Outcome
from core.send import HttpResponse

CHINA = ZoneInfo("Asia/Shanghai")

# 5. 返回值示例, as printed: a blank line after the count, a single "#" in the
# second record, and the document's own ellipsis after the third.
DOC_REPLIES = (
    "3\n\n2010-03-16 12:00##13866889900##回复内容1||2010-03-16 13:00##13866889911#回复内容2"
    "||2010-03-16 14:00##13866889922##回复内容3||……."
).encode("gbk")
# 7. 返回值示例, with its blank lines.
DOC_REPORTS = b"2\n\n2010-07-12 11:21:24||13855889933||1\n\n2010-07-12 11:25:52||13855889944||2\n"


def poll(what: str, body: bytes) -> PollResult:
    settings = settings_from(
        {
            "vendors": [
                {
                    "kind": "esms100",
                    "name": "esms100",
                    "base_url": "http://127.0.0.1:1",
                    "price_per_segment": 0.05,
                    "cpid": "10000",
                    "password": "secret",
                }
            ]
        },
        "esms100.toml",
    )
    adapter = make_adapter(settings.vendors[0])
    request = adapter.build_report_poll(0) if what == "reports" else adapter.build_reply_poll(0)
    assert request is not None
    return adapter.parse_poll(request, HttpResponse(200, body))


def test_the_documents_replies_are_all_kept() -> None:
    result = poll("replies", DOC_REPLIES)
    assert result.outcome is Outcome.ACCEPTED
    assert [(r.phone, r.text, r.time) for r in result.replies] == [
        ("13866889900", "回复内容1", datetime(2010, 3, 16, 12, 0, tzinfo=CHINA)),
        ("13866889911", "回复内容2", datetime(2010, 3, 16, 13, 0, tzinfo=CHINA)),
        ("13866889922", "回复内容3", datetime(2010, 3, 16, 14, 0, tzinfo=CHINA)),
    ]
    # The ellipsis is not a reply: counted as not understood, the rest kept.
    assert result.malformed


def test_a_reply_bad_in_the_middle_costs_only_itself() -> None:
    body = "3\n2010-03-16 12:00##139##一||garbage||2010-03-16 12:01:30##138##二".encode("gbk")
    result = poll("replies", body)
    assert (result.outcome, result.malformed) == (Outcome.ACCEPTED, True)
    assert [(r.phone, r.text) for r in result.replies] == [("139", "一"), ("138", "二")]
    # A time with seconds, as a report's, is read too.
    assert result.replies[1].time == datetime(2010, 3, 16, 12, 1, 30, tzinfo=CHINA)


def test_a_reply_text_with_hashes_after_two_is_whole() -> None:
    result = poll("replies", "1\n2010-03-16 12:00##139###1 ok##".encode("gbk"))
    assert [(r.phone, r.text) for r in result.replies] == [("139", "#1 ok##")]
    assert not result.malformed
    # One "#" after the number, "##" in the text: the number is the number.
    result = poll("replies", "1\n2010-03-16 12:00##139#a##b".encode("gbk"))
    assert [(r.phone, r.text) for r in result.replies] == [("139", "a##b")]


def test_a_hostile_reply_record_costs_linear_time() -> None:
    # A vendor answer may be 4 MiB; a pattern that backtracks over a run of
    # spaces would hold the event loop for hours on one.
    body = b"1\n2010-03-16 12:00" + b" " * (4 << 20) + b"x"
    started = time.perf_counter()
    result = poll("replies", body)
    assert time.perf_counter() - started < 5
    assert (result.outcome, result.malformed) == (Outcome.VENDOR_BUSY, True)


def test_the_documents_reports() -> None:
    result = poll("reports", DOC_REPORTS)
    assert (result.outcome, result.malformed) == (Outcome.ACCEPTED, False)
    assert [(r.phone, r.status, r.time) for r in result.reports] == [
        ("13855889933", DeliveryStatus.DELIVERED, datetime(2010, 7, 12, 11, 21, 24, tzinfo=CHINA)),
        ("13855889944", DeliveryStatus.FAILED, datetime(2010, 7, 12, 11, 25, 52, tzinfo=CHINA)),
    ]


def test_a_report_line_bad_in_the_middle_costs_only_itself() -> None:
    body = (
        b"3\n2010-07-12 11:21:24||13855889933||1\n2010-07-12 11:2"
        b"\n2010-07-12 11:25:52||13855889944||x\n2010-07-12 11:25:53||13855889955||2"
    )
    result = poll("reports", body)
    assert (result.outcome, result.malformed) == (Outcome.ACCEPTED, True)
    assert [r.phone for r in result.reports] == ["13855889933", "13855889955"]


def test_a_listing_of_nothing_understood_is_the_vendor_busy() -> None:
    for what, body in (("reports", b"2\n<html>\nbad"), ("replies", b"1\nnothing here")):
        result = poll(what, body)
        assert (result.outcome, result.malformed) == (Outcome.VENDOR_BUSY, True)
    assert poll("reports", b"<html>").outcome is Outcome.VENDOR_BUSY
    assert poll("replies", b"-1").outcome is Outcome.AUTH_FAILED
    assert poll("replies", b"").replies == ()
