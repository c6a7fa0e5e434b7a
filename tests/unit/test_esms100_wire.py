"""Golden bytes for the esms100 codec: what legacy clients send, what they get back."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from adapters.esms100 import wire
from adapters.esms100.codes import CODES, outcome_of
from adapters.esms100.wire import ReplyRecord, ReportLine
from core.outcome import Outcome

CHINA = ZoneInfo("Asia/Shanghai")
# "测试" in GBK and in UTF-8, percent-encoded as Java's URLEncoder and PHP's urlencode do.
GBK_TEST = b"%B2%E2%CA%D4"
UTF8_TEST = b"%E6%B5%8B%E8%AF%95"


@pytest.mark.parametrize(
    ("query", "body", "expected", "unreadable", "utf8"),
    [
        (b"cpid=1&msgtext=" + GBK_TEST, b"", {"cpid": "1", "msgtext": "测试"}, set(), False),
        (
            b"msgtext=" + UTF8_TEST + b"&encode=utf8",
            b"",
            {"msgtext": "测试", "encode": "utf8"},
            set(),
            True,
        ),
        (
            b"msgtext=" + UTF8_TEST + b"&ENCODE=UTF-8",
            b"",
            {"msgtext": "测试", "encode": "UTF-8"},
            set(),
            True,
        ),
        (b"", b"cpid=1&msgtext=" + GBK_TEST, {"cpid": "1", "msgtext": "测试"}, set(), False),
        (b"cpid=1", b"cpid=2", {"cpid": "2"}, set(), False),
        (b"msgtext=a+b%2Bc", b"", {"msgtext": "a b+c"}, set(), False),
        (b"msgtext=%E4%B8%G0&cpid=1", b"", {"cpid": "1"}, {"msgtext"}, False),
        (b"msgtext=50%", b"", {}, {"msgtext"}, False),
        (b"msgtext=%FF%FF%FF", b"", {}, {"msgtext"}, False),
        # UTF-8 without encode=utf8 that is not GBK: taken as UTF-8
        (b"msgtext=%E4%BD%A0%E5%A5%BD%F0%9F%98%80", b"", {"msgtext": "你好😀"}, set(), False),
        # GBK whose bytes are also UTF-8 (two-byte sequences alone): GBK unless declared
        (b"msgtext=%D0%BB%D0%BB", b"", {"msgtext": "谢谢"}, set(), False),
        (b"msgtext=%D2%BB%C8%AB+ok", b"", {"msgtext": "一全 ok"}, set(), False),
        # ... but two-byte UTF-8 that is not GB2312 (Cyrillic) stays UTF-8
        (b"msgtext=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82", b"", {"msgtext": "Привет"}, set(), False),
        (
            b"msgtext=%D0%BB%D0%BB&encode=utf8",
            b"",
            {"msgtext": "лл", "encode": "utf8"},
            set(),
            True,
        ),
        # Declared UTF-8 that is not: read as GBK rather than refused
        (
            b"msgtext=" + GBK_TEST + b"&encode=utf8",
            b"",
            {"msgtext": "测试", "encode": "utf8"},
            set(),
            True,
        ),
        (b"%ZZ=1&cpid=1", b"", {"cpid": "1"}, set(), False),
        (b"&&cpid=1&", b"", {"cpid": "1"}, set(), False),
    ],
)
def test_decode_params(
    query: bytes, body: bytes, expected: dict[str, str], unreadable: set[str], utf8: bool
) -> None:
    params = wire.decode_params(query, body)
    assert dict(params.values) == expected
    assert params.unreadable == unreadable
    assert params.utf8 is utf8


def test_get_strips_and_treats_empty_as_missing() -> None:
    params = wire.decode_params(b"cpid=+acme+&phone=")
    assert params.get("cpid") == "acme"
    assert params.get("phone") is None
    assert params.get("nothing") is None


@pytest.mark.parametrize(
    ("code", "body"), [(0, b"0"), (-1, b"-1"), (-10, b"-10"), (-110, b"-110"), (1000, b"1000")]
)
def test_code_answers_are_the_bare_number(code: int, body: bytes) -> None:
    assert wire.encode_code(code) == body
    assert wire.decode_code(body) == code


def test_password_digest_is_uppercase_md5() -> None:
    assert wire.password_digest("123456") == "E10ADC3949BA59ABBE56E057F20F883E"


def test_reports_golden() -> None:
    lines = [
        ReportLine(datetime(2010, 7, 12, 11, 21, 24, tzinfo=CHINA), "13855889933", 1),
        ReportLine(datetime(2010, 7, 12, 11, 25, 52, tzinfo=CHINA), "13855889944", 2),
    ]
    body = b"2\n2010-07-12 11:21:24||13855889933||1\n2010-07-12 11:25:52||13855889944||2"
    assert wire.encode_reports(lines, CHINA) == body
    assert wire.decode_reports(body, CHINA) == wire.Listing(lines)
    assert wire.encode_reports([], CHINA) == b"0"
    assert wire.decode_reports(b"0", CHINA) == wire.Listing([])
    assert wire.decode_reports(b"-1", CHINA) == -1
    assert wire.decode_reports(b"<html>", CHINA) is None


def test_replies_golden_in_gbk() -> None:
    replies = [
        ReplyRecord(datetime(2010, 3, 16, 12, 0, tzinfo=CHINA), "13866889900", "回复内容1"),
        ReplyRecord(datetime(2010, 3, 16, 13, 0, tzinfo=CHINA), "13866889911", "好||的##"),
    ]
    body = (
        "2\n2010-03-16 12:00##13866889900##回复内容1||2010-03-16 13:00##13866889911##好｜｜的＃＃"
    ).encode("gbk")
    assert wire.encode_replies(replies, CHINA) == body
    decoded = wire.decode_replies(body, CHINA)
    assert isinstance(decoded, wire.Listing)
    assert decoded.bad == 0
    assert [(r.phone, r.text) for r in decoded.items] == [
        ("13866889900", "回复内容1"),
        ("13866889911", "好｜｜的＃＃"),
    ]
    # A line break in a reply would cut its record short: the records are one line.
    broken = ReplyRecord(datetime(2010, 3, 16, 14, 0, tzinfo=CHINA), "13866889922", "a\r\nb\nc\r")
    assert wire.encode_replies([broken], CHINA) == b"1\n2010-03-16 14:00##13866889922##a b c"
    assert wire.encode_replies([], CHINA) == b"0"
    assert wire.decode_replies(b"", CHINA) == wire.Listing([])
    assert wire.decode_replies(b"-1", CHINA) == -1


def test_send_form_golden() -> None:
    body = wire.encode_send("10000", "ABC", ["13800138000", "13900139000"], "测试 a+b")
    assert body == (
        b"cpid=10000&cppwd=ABC&phone=13800138000%2C13900139000"
        b"&msgtext=%E6%B5%8B%E8%AF%95+a%2Bb&encode=utf8"
    )


def test_every_documented_code_has_an_outcome() -> None:
    documented = [0, *range(-1, -21, -1), -110]
    assert sorted(CODES) == sorted(documented)
    assert outcome_of(0) is Outcome.ACCEPTED
    assert outcome_of(-10) is Outcome.BALANCE_EXHAUSTED
    assert outcome_of(-15) is Outcome.RATE_LIMITED
    assert outcome_of(-16) is Outcome.RECIPIENT_INVALID
    assert outcome_of(-11) is Outcome.CONTENT_REJECTED
    assert outcome_of(-999) is None
