"""sms.cn codec: golden bytes for every request, every documented answer parsed."""

from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from adapters.base import DeliveryStatus, Reply, Report
from adapters.smscn import wire
from adapters.smscn.adapter import SmscnAdapter
from adapters.smscn.codes import CODES
from config.vendor_kinds import SmscnSettings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend

NOW_MS = 1_700_000_000_123
PWD = "b9887c5ebb23ebb294acab183ecf0769"  # md5("123123test"), the document's example
AUTH = f"uid=test&pwd={PWD}"
FORM = "application/x-www-form-urlencoded"
SEND_TEXT = "发送测试"
CHINA = ZoneInfo("Asia/Shanghai")
SEND_TEXT_UTF8 = "%E5%8F%91%E9%80%81%E6%B5%8B%E8%AF%95"


def adapter(mid: str | None = None) -> SmscnAdapter:
    return SmscnAdapter(
        SmscnSettings(
            kind="smscn",
            name="smscn",
            base_url="http://api.sms.cn",
            price_per_segment=0.04,
            uid="test",
            password="123123",
            mid=mid,
        )
    )


def prepared(phones: tuple[str, ...] = ("13900008888",)) -> PreparedSend:
    return adapter().build_send(Chunk(phones, SEND_TEXT, 1), NOW_MS)


def ok(body: bytes) -> HttpResponse:
    return HttpResponse(200, body, "text/plain; charset=gbk")


def gbk(text: str) -> bytes:
    return text.encode("gbk")


# --- requests -----------------------------------------------------------------------


def test_password_digest_is_the_documents_example() -> None:
    assert hashlib.md5(b"123123test").hexdigest() == PWD
    assert wire.password_digest("123123", "test") == PWD


def test_mobile_id_is_phone_then_millis() -> None:
    # 目标号码+当前时间戳整数，精确到毫秒: the number, then the time in ms.
    assert wire.mobile_ids(["13900008888", "+86 131-0000-6666"], NOW_MS) == (
        ["139000088881700000000123", "86131000066661700000000123"],
        NOW_MS,
    )
    assert wire.mobile_ids(["13900008888"], 5) == (["139000088880000000000005"], 5)


def test_a_phone_listed_twice_takes_the_next_millisecond() -> None:
    ids, last = wire.mobile_ids(["139", "131", "139", "139"], NOW_MS)
    assert ids == [f"139{NOW_MS}", f"131{NOW_MS}", f"139{NOW_MS + 1}", f"139{NOW_MS + 2}"]
    assert last == NOW_MS + 2


def test_no_two_requests_share_an_id_in_one_millisecond() -> None:
    a = adapter()
    first = a.build_send(Chunk(("13900008888",), "a", 1), NOW_MS).message_ids
    second = a.build_send(Chunk(("13900008888",), "b", 1), NOW_MS).message_ids
    assert first == {"13900008888": f"13900008888{NOW_MS}"}
    assert second == {"13900008888": f"13900008888{NOW_MS + 1}"}
    # The clock moving on is taken as it is.
    third = a.build_send(Chunk(("13900008888",), "c", 1), NOW_MS + 50).message_ids
    assert third == {"13900008888": f"13900008888{NOW_MS + 50}"}


def test_small_send_is_a_get_with_utf8_and_mobileids() -> None:
    p = prepared(("13900008888", "13100006666"))
    assert p.request == HttpRequest(
        "GET",
        "/mt/",
        query=(
            f"{AUTH}&encode=utf8&mobile=13900008888%2C13100006666"
            "&mobileids=139000088881700000000123%2C131000066661700000000123"
            f"&content={SEND_TEXT_UTF8}"
        ),
    )
    assert p.message_ids == {
        "13900008888": "139000088881700000000123",
        "13100006666": "131000066661700000000123",
    }


def test_mid_is_sent_when_configured() -> None:
    p = adapter(mid="01").build_send(Chunk(("13900008888",), "a b&c", 1), NOW_MS)
    assert p.request.query == (
        f"{AUTH}&mid=01&encode=utf8&mobile=13900008888"
        "&mobileids=139000088881700000000123&content=a+b%26c"
    )


def test_more_than_fifty_numbers_go_as_a_post_form() -> None:
    phones = tuple(f"139{i:08d}" for i in range(51))
    p = prepared(phones)
    ids = [f"139{i:08d}{NOW_MS}" for i in range(51)]
    expected = (
        f"{AUTH}&encode=utf8&mobile={'%2C'.join(phones)}"
        f"&mobileids={'%2C'.join(ids)}&content={SEND_TEXT_UTF8}"
    )
    assert p.request == HttpRequest(
        "POST", "/mt/", body=expected.encode("ascii"), content_type=FORM
    )
    assert p.message_ids == dict(zip(phones, ids, strict=True))


def test_long_query_goes_as_a_post_even_for_one_number() -> None:
    text = "测" * 250  # 250 x 9 percent-encoded characters: over the GET query budget
    p = adapter().build_send(Chunk(("13900008888",), text, 1), NOW_MS)
    assert p.request.method == "POST"
    assert p.request.query == ""
    assert p.request.body.endswith(b"&content=" + b"%E6%B5%8B" * 250)


def test_get_queries_stay_within_budget() -> None:
    phones = tuple(f"139{i:08d}" for i in range(50))
    for n in range(0, 500, 25):
        p = adapter().build_send(Chunk(phones, "测" * n, 1), NOW_MS)
        assert p.request.method == "POST" or len(p.request.query) <= 2048


def test_limits() -> None:
    limits = adapter().limits
    assert (limits.max_numbers, limits.max_text_chars) == (2000, 500)
    assert (limits.report_poll_interval_s, limits.reply_poll_interval_s) == (10.0, 10.0)
    assert limits.balance_interval_s == 60.0


def test_polls_and_balance_requests() -> None:
    a = adapter()
    assert a.build_balance(NOW_MS) == HttpRequest("GET", "/mm/", query=AUTH)
    assert a.build_report_poll(NOW_MS) == HttpRequest("GET", "/st/", query=AUTH)
    assert a.build_reply_poll(NOW_MS) == HttpRequest("GET", "/rx/", query=AUTH)


def test_repr_hides_the_password() -> None:
    assert "123123" not in repr(adapter()) and PWD not in repr(adapter())


# --- send answers -------------------------------------------------------------------

DOCUMENTED = {
    100: Outcome.ACCEPTED,
    101: Outcome.AUTH_FAILED,
    102: Outcome.BALANCE_EXHAUSTED,
    103: Outcome.VENDOR_BUSY,
    104: Outcome.CONTENT_REJECTED,
    105: Outcome.REQUEST_INVALID,
    106: Outcome.REQUEST_INVALID,
    107: Outcome.RATE_LIMITED,
    108: Outcome.REQUEST_INVALID,
    109: Outcome.AUTH_FAILED,
    110: Outcome.RATE_LIMITED,
    112: Outcome.RECIPIENT_INVALID,
    113: Outcome.REQUEST_INVALID,
    114: Outcome.AUTH_FAILED,
    116: Outcome.AUTH_FAILED,
    117: Outcome.IP_REJECTED,
    120: Outcome.VENDOR_BUSY,
}


def test_code_table_covers_the_document_exactly() -> None:
    assert set(CODES) == set(DOCUMENTED)


@pytest.mark.parametrize(("code", "outcome"), sorted(DOCUMENTED.items()))
def test_every_documented_code(code: int, outcome: Outcome) -> None:
    body = gbk(f"sms&stat={code}&message={CODES[code][1]}")
    result = adapter().parse_send(prepared(), ok(body))
    assert (result.outcome, result.raw_code, result.malformed) == (outcome, str(code), False)
    assert result.detail == CODES[code][1]


def test_success_returns_our_mobileids() -> None:
    p = prepared(("13900008888", "13100006666"))
    result = adapter().parse_send(p, ok(gbk("sms&stat=100&message=发送成功")))
    assert result.outcome is Outcome.ACCEPTED
    assert result.message_ids == p.message_ids


def test_refusal_carries_no_ids() -> None:
    result = adapter().parse_send(prepared(), ok(gbk("sms&stat=102&message=短信不足")))
    assert result.message_ids == {}


def test_answer_tolerates_whitespace_and_a_utf8_message() -> None:
    body = "sms&stat=100&message=发送成功\r\n".encode()
    result = adapter().parse_send(prepared(), ok(body))
    assert (result.outcome, result.detail) == (Outcome.ACCEPTED, "发送成功")


def test_unknown_code_is_ambiguous() -> None:
    result = adapter().parse_send(prepared(), ok(b"sms&stat=111&message=x"))
    assert (result.outcome, result.raw_code, result.malformed) == (Outcome.AMBIGUOUS, "111", True)


MALFORMED = [
    b"",
    b"\xff\xfe\x00garbage\x80",
    b"<html><body>502 Bad Gateway</body></html>",
    "sms&stat=100".encode("utf-16"),
    b"stat=100&message=ok",
    b"sms&stat=&message=x",
    b"sms&stat=1e2",
    b"sms&message=ok",
    b"100",
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_send_answer_is_ambiguous(body: bytes) -> None:
    result = adapter().parse_send(prepared(), ok(body))
    assert (result.outcome, result.malformed) == (Outcome.AMBIGUOUS, True)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_vendor_busy(status: int) -> None:
    a = adapter()
    assert a.parse_send(prepared(), HttpResponse(status, b"")).outcome is Outcome.VENDOR_BUSY
    assert a.parse_balance(HttpResponse(status, b"")).outcome is Outcome.VENDOR_BUSY
    poll = a.parse_poll(a.build_report_poll(0), HttpResponse(status, b""))
    assert poll.outcome is Outcome.VENDOR_BUSY


def test_a_redirect_is_ambiguous_for_a_send() -> None:
    body = gbk("sms&stat=100&message=发送成功")
    result = adapter().parse_send(prepared(), HttpResponse(302, body))
    assert (result.outcome, result.raw_code, result.malformed) == (
        Outcome.AMBIGUOUS,
        "http_302",
        True,
    )


# --- balance ------------------------------------------------------------------------


def test_balance_is_messages_left() -> None:
    result = adapter().parse_balance(ok(b"sms&stat=100&remain=100"))
    assert (result.outcome, result.segments, result.malformed) == (Outcome.ACCEPTED, 100, False)


def test_overdrawn_balance_is_zero() -> None:
    assert adapter().parse_balance(ok(b"sms&stat=100&remain=-3")).segments == 0


def test_balance_error_code() -> None:
    result = adapter().parse_balance(ok(gbk("sms&stat=101&message=验证失败")))
    assert (result.outcome, result.raw_code, result.malformed) == (
        Outcome.AUTH_FAILED,
        "101",
        False,
    )


@pytest.mark.parametrize(
    "body",
    [
        *MALFORMED,
        b"sms&stat=100",
        b"sms&stat=100&remain=many",
        b"sms&stat=100&remain=1_0",
        b"sms&stat=999",
    ],
)
def test_malformed_balance_is_vendor_busy(body: bytes) -> None:
    result = adapter().parse_balance(ok(body))
    assert (result.outcome, result.malformed, result.segments) == (Outcome.VENDOR_BUSY, True, None)


# --- status reports -----------------------------------------------------------------

DOC_REPORTS = (
    b"18817660001,100,188176600011234556789, 2011-03-11 11:22:11\r\n"
    b"18817660002,100,188176600021234556311, 2011-03-11 11:28:22\r\n"
)


def parse_reports(body: bytes, status: int = 200) -> tuple[Outcome, tuple[Report, ...], bool]:
    a = adapter()
    result = a.parse_poll(a.build_report_poll(0), HttpResponse(status, body))
    return result.outcome, result.reports, result.malformed


def test_reports_of_the_document() -> None:
    outcome, reports, malformed = parse_reports(DOC_REPORTS)
    assert (outcome, malformed) == (Outcome.ACCEPTED, False)
    assert reports == (
        Report(
            "18817660001",
            DeliveryStatus.DELIVERED,
            "100",
            "188176600011234556789",
            datetime(2011, 3, 11, 11, 22, 11, tzinfo=CHINA),
        ),
        Report(
            "18817660002",
            DeliveryStatus.DELIVERED,
            "100",
            "188176600021234556311",
            datetime(2011, 3, 11, 11, 28, 22, tzinfo=CHINA),
        ),
    )


def test_any_other_report_status_is_failed_and_kept_raw() -> None:
    _, reports, _ = parse_reports(b"13900008888,UNDELIV,1390000888817000000001230000, bad time")
    assert reports == (
        Report(
            "13900008888", DeliveryStatus.FAILED, "UNDELIV", "1390000888817000000001230000", None
        ),
    )


def test_no_reports_is_an_empty_body() -> None:
    assert parse_reports(b"") == (Outcome.ACCEPTED, (), False)
    assert parse_reports(b"\r\n") == (Outcome.ACCEPTED, (), False)


def test_report_poll_refused_with_a_code() -> None:
    assert parse_reports(gbk("sms&stat=101&message=验证失败")) == (Outcome.AUTH_FAILED, (), False)
    assert parse_reports(b"117") == (Outcome.IP_REJECTED, (), False)


def test_bad_lines_are_skipped_and_flagged() -> None:
    outcome, reports, malformed = parse_reports(DOC_REPORTS + b"<html>\n1,2\n")
    assert (outcome, len(reports), malformed) == (Outcome.ACCEPTED, 2, True)


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage\x80", b"<html>oops</html>", b"a,b,c,d"])
def test_unreadable_report_listing_is_vendor_busy(body: bytes) -> None:
    assert parse_reports(body) == (Outcome.VENDOR_BUSY, (), True)


# --- replies ------------------------------------------------------------------------

DOC_REPLIES = gbk(
    "100{&}13912341234||短信测试回复||2008-05-27 12:10:11||1068112227282"
    "{&}15912343333||短信测试回复2||2009-05-27 13:11:11||106811222728200"
)


def parse_replies(body: bytes) -> tuple[Outcome, tuple[Reply, ...], bool]:
    a = adapter()
    result = a.parse_poll(a.build_reply_poll(0), ok(body))
    return result.outcome, result.replies, result.malformed


def test_replies_of_the_document() -> None:
    assert parse_replies(DOC_REPLIES) == (
        Outcome.ACCEPTED,
        (
            Reply(
                "13912341234",
                "短信测试回复",
                datetime(2008, 5, 27, 12, 10, 11, tzinfo=CHINA),
                "1068112227282",
            ),
            Reply(
                "15912343333",
                "短信测试回复2",
                datetime(2009, 5, 27, 13, 11, 11, tzinfo=CHINA),
                "106811222728200",
            ),
        ),
        False,
    )


def test_no_replies() -> None:
    assert parse_replies(b"") == (Outcome.ACCEPTED, (), False)
    assert parse_replies(b"100") == (Outcome.ACCEPTED, (), False)


def test_reply_poll_refused_with_a_code() -> None:
    assert parse_replies(b"101") == (Outcome.AUTH_FAILED, (), False)
    assert parse_replies(gbk("sms&stat=117&message=绑定IP不正确")) == (
        Outcome.IP_REJECTED,
        (),
        False,
    )


def test_reply_text_with_bars_is_kept_whole() -> None:
    body = gbk("100{&}13912341234||a||b｜｜c||2008-05-27 12:10:11||1068")
    _, replies, _ = parse_replies(body)
    assert [r.text for r in replies] == ["a||b｜｜c"]


def test_reply_encoding_round_trips() -> None:
    record = wire.ReplyRecord(
        "13912341234", "好||的", datetime(2024, 1, 2, 3, 4, 5, tzinfo=CHINA), "1068"
    )
    listing = wire.decode_replies(wire.encode_replies([record], CHINA), CHINA)
    assert listing is not None
    assert listing.records == [wire.ReplyRecord("13912341234", "好｜｜的", record.time, "1068")]


def test_bad_reply_records_are_skipped_and_flagged() -> None:
    outcome, replies, malformed = parse_replies(DOC_REPLIES + b"{&}junk")
    assert (outcome, len(replies), malformed) == (Outcome.ACCEPTED, 2, True)


@pytest.mark.parametrize(
    "body", [b"\xff\xfe\x00garbage\x80", b"<html>oops</html>", b"100{&}junk", b"ok{&}a||b||c||d"]
)
def test_unreadable_reply_listing_is_vendor_busy(body: bytes) -> None:
    assert parse_replies(body) == (Outcome.VENDOR_BUSY, (), True)


# --- pushes -------------------------------------------------------------------------

PUSH_GBK = "cmd=res&uid=test&mobile=13912341234&content=%BA%C3%B5%C4&time=2024-01-02+03%3A04%3A05"


@pytest.mark.parametrize(
    "request_",
    [
        HttpRequest("GET", "/push/smscn", query=PUSH_GBK),
        HttpRequest("POST", "/push/smscn", body=PUSH_GBK.encode(), content_type=FORM),
        HttpRequest(
            "GET",
            "/push/smscn",
            query="cmd=res&uid=test&mobile=13912341234&content=%E5%A5%BD%E7%9A%84"
            "&time=2024-01-02%2003:04:05&encode=utf8",
        ),
    ],
    ids=["get-gbk", "post-gbk", "get-utf8"],
)
def test_reply_push(request_: HttpRequest) -> None:
    result = adapter().parse_push(request_)
    assert result.accepted
    assert result.replies == (
        Reply("13912341234", "好的", datetime(2024, 1, 2, 3, 4, 5, tzinfo=CHINA)),
    )
    assert (result.answer.status, result.answer.body) == (200, b"100")


def test_report_push_of_the_documents_example_line() -> None:
    query = "cmd=res&uid=test&mobileids=1390000888817000000001230000&mobile=13900008888&status=100"
    result = adapter().parse_push(HttpRequest("GET", "/push/smscn", query=query))
    assert result.reports == (
        Report("13900008888", DeliveryStatus.DELIVERED, "100", "1390000888817000000001230000"),
    )
    assert result.answer.body == b"100"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (PUSH_GBK.replace("uid=test", "uid=other"), 403),
        (PUSH_GBK.replace("uid=test&", ""), 403),
        (PUSH_GBK.replace("cmd=res", "cmd=mo"), 400),
        ("cmd=res&uid=test&content=x", 400),
        ("cmd=res&uid=test&mobile=1&content=%ZZ", 400),
        ("%%%&&==\xff", 403),
        ("", 403),
    ],
)
def test_refused_pushes(query: str, status: int) -> None:
    result = adapter().parse_push(HttpRequest("GET", "/push/smscn", query=query))
    assert not result.accepted
    assert result.answer.status == status
    assert (result.reports, result.replies) == ((), ())
