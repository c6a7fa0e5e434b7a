"""chuanglan codec: golden bytes out, every documented code and status in, bad input safe."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from adapters.base import DeliveryStatus, PushResult, Reply, ReplyPart, Report
from adapters.chuanglan.adapter import ChuanglanAdapter
from adapters.chuanglan.codes import BALANCE_CODES, SEND_CODES, STATUSES
from config.vendor_kinds import ChuanglanSettings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, SendResult

FORM = "application/x-www-form-urlencoded"
CHINA = ZoneInfo("Asia/Shanghai")
DOC_TEXT = "【朗宇信息】您好"
DOC_TEXT_ENCODED = b"%E3%80%90%E6%9C%97%E5%AE%87%E4%BF%A1%E6%81%AF%E3%80%91%E6%82%A8%E5%A5%BD"


def settings(**overrides: Any) -> ChuanglanSettings:
    values: dict[str, Any] = {
        "kind": "chuanglan",
        "name": "chuanglan",
        "base_url": "http://120.26.66.24",
        "price_per_segment": 0.04,
        "account": "test01",
        "password": "123456",
        "product": "274463133",
        "report_receiver": "admin",
        "report_password": "12345",
    }
    values.update(overrides)
    return ChuanglanSettings(**values)


def adapter(**overrides: Any) -> ChuanglanAdapter:
    return ChuanglanAdapter(settings(**overrides))


def send(body: bytes, status: int = 200, phones: tuple[str, ...] = ("13800138000",)) -> SendResult:
    a = adapter()
    prepared = a.build_send(Chunk(phones, "hi", 1), 0)
    return a.parse_send(prepared, HttpResponse(status, body))


def push(query: str, body: bytes = b"", **overrides: Any) -> PushResult:
    method: Literal["GET", "POST"] = "POST" if body else "GET"
    return adapter(**overrides).parse_push(HttpRequest(method, "/push", query, body, FORM))


# --- requests, byte for byte ------------------------------------------------------------


def test_send_is_the_documented_form_in_utf8() -> None:
    # 1.4's example, as a POST body.
    prepared = adapter().build_send(Chunk(("18900000000", "13800138000"), DOC_TEXT, 7), 0)
    req = prepared.request
    assert (req.method, req.path, req.query, req.content_type) == (
        "POST",
        "/msg/HttpBatchSendSM",
        "",
        FORM,
    )
    assert req.body == (
        b"account=test01&pswd=123456&mobile=18900000000%2C13800138000&msg="
        + DOC_TEXT_ENCODED
        + b"&needstatus=true&product=274463133"
    )
    assert prepared.message_ids == {}


def test_send_without_product_with_extno_and_awkward_text() -> None:
    a = adapter(product=None, extno="0123", password="p&w=d+%")
    req = a.build_send(Chunk(("13900000001",), "a b+c&d=e%f", 1), 0).request
    assert req.body == (
        b"account=test01&pswd=p%26w%3Dd%2B%25&mobile=13900000001"
        b"&msg=a+b%2Bc%26d%3De%25f&needstatus=true&extno=0123"
    )


def test_balance_query_is_the_documented_get() -> None:
    req = adapter().build_balance(0)
    assert (req.method, req.path, req.query, req.body) == (
        "GET",
        "/msg/QueryBalance",
        "account=test01&pswd=123456",
        b"",
    )


def test_limits_and_no_polls() -> None:
    a = adapter()
    assert (a.limits.max_numbers, a.limits.max_text_chars, a.limits.balance_interval_s) == (
        50000,
        536,
        10.0,
    )
    assert a.build_report_poll(0) is None and a.build_reply_poll(0) is None
    polled = a.parse_poll(a.build_balance(0), HttpResponse(200, b"x"))
    assert polled.outcome is Outcome.VENDOR_BUSY and polled.malformed


@pytest.mark.parametrize("extno", ["12a", "", " 1", "1" * 21])
def test_extno_must_be_digits(extno: str) -> None:
    with pytest.raises(ValidationError, match="extno"):
        settings(extno=extno)


def test_repr_hides_the_password() -> None:
    assert "123456" not in repr(adapter()) + repr(settings())


# --- every documented code -------------------------------------------------------------

SEND_TABLE: dict[int, Outcome] = {
    0: Outcome.ACCEPTED,
    101: Outcome.AUTH_FAILED,
    102: Outcome.AUTH_FAILED,
    103: Outcome.RATE_LIMITED,
    104: Outcome.VENDOR_BUSY,
    105: Outcome.CONTENT_REJECTED,
    106: Outcome.REQUEST_INVALID,
    108: Outcome.REQUEST_INVALID,
    109: Outcome.BALANCE_EXHAUSTED,
    110: Outcome.RATE_LIMITED,
    111: Outcome.BALANCE_EXHAUSTED,
    112: Outcome.AUTH_FAILED,
    113: Outcome.REQUEST_INVALID,
    115: Outcome.CONTENT_REJECTED,
    116: Outcome.CONTENT_REJECTED,
    117: Outcome.IP_REJECTED,
    118: Outcome.AUTH_FAILED,
    119: Outcome.AUTH_FAILED,
    120: Outcome.CONTENT_REJECTED,
}

BALANCE_TABLE: dict[int, Outcome] = {
    101: Outcome.AUTH_FAILED,
    102: Outcome.AUTH_FAILED,
    103: Outcome.RATE_LIMITED,
    117: Outcome.IP_REJECTED,  # a 1.3.3 code can answer a query too
}

STATUS_TABLE: dict[str, DeliveryStatus] = {
    "DELIVRD": DeliveryStatus.DELIVERED,
    "MBBLACK": DeliveryStatus.FAILED,
    "ROUTEERR": DeliveryStatus.FAILED,
    "REJECT": DeliveryStatus.FAILED,
    "DISTURB": DeliveryStatus.FAILED,
    "EMSERR": DeliveryStatus.FAILED,
    "SIGNERR": DeliveryStatus.FAILED,
    "KEYWORD": DeliveryStatus.FAILED,
    # 其他: the gateway's own values
    "UNDELIV": DeliveryStatus.FAILED,
    "EXPIRED": DeliveryStatus.FAILED,
    "MK:0001": DeliveryStatus.FAILED,
}


def test_tables_cover_the_document() -> None:
    assert set(SEND_CODES) == set(SEND_TABLE)
    assert set(BALANCE_CODES) == {0, 101, 102, 103}
    assert set(STATUSES) <= set(STATUS_TABLE)
    assert all(desc for _, desc in [*SEND_CODES.values(), *BALANCE_CODES.values()])


@pytest.mark.parametrize(("code", "outcome"), SEND_TABLE.items())
def test_every_send_code(code: int, outcome: Outcome) -> None:
    body = f"20110725160412,{code}".encode()
    if code == 0:
        body += b"\n1234567890100"
    result = send(body)
    assert (result.outcome, result.raw_code, result.malformed) == (outcome, str(code), False)
    if code:
        assert result.detail == SEND_CODES[code][1]
        assert result.message_ids == {}


@pytest.mark.parametrize(("code", "outcome"), BALANCE_TABLE.items())
def test_every_balance_code(code: int, outcome: Outcome) -> None:
    result = adapter().parse_balance(HttpResponse(200, f"20130303180000,{code}".encode()))
    assert (result.outcome, result.raw_code, result.segments, result.malformed) == (
        outcome,
        str(code),
        None,
        False,
    )


@pytest.mark.parametrize(("status", "expected"), STATUS_TABLE.items())
def test_every_report_status(status: str, expected: DeliveryStatus) -> None:
    result = push(
        f"receiver=admin&pswd=12345&msgid=1&reportTime=1012241002&mobile=1&status={status}"
    )
    assert result.accepted
    (report,) = result.reports
    assert (report.status, report.raw_status) == (expected, status)


# --- answers ----------------------------------------------------------------------------


def test_send_accepted_gives_the_one_msgid_to_every_phone() -> None:
    # 1.3.2: one msgid per request, whatever the number of phones.
    result = send(b"20110725160412,0\n1234567890100", phones=("13800138000", "18900000000"))
    assert result.outcome is Outcome.ACCEPTED and not result.malformed
    assert result.message_ids == {"13800138000": "1234567890100", "18900000000": "1234567890100"}


@pytest.mark.parametrize(
    "body",
    [b"20110725160412,0\r\n1234567890100\r\n", b"20110725160412,0\n\n\n1234567890100\n\n"],
)
def test_send_answer_line_endings_are_tolerated(body: bytes) -> None:
    assert send(body).message_ids == {"13800138000": "1234567890100"}


def test_send_failed_has_no_msgid() -> None:
    result = send(b"20110725160412,101")
    assert (result.outcome, result.raw_code, result.message_ids) == (
        Outcome.AUTH_FAILED,
        "101",
        {},
    )


@pytest.mark.parametrize(
    "body", [b"20110725160412,0", b"20110725160412,0\n12 34", b"20110725160412,0\n1\n2"]
)
def test_accepted_without_a_usable_msgid_is_accepted_but_malformed(body: bytes) -> None:
    result = send(body)
    assert (result.outcome, result.malformed, result.message_ids) == (Outcome.ACCEPTED, True, {})


def test_balance_the_documented_example() -> None:
    doc = HttpResponse(200, b"20130303180000,0\n1234567,1000\n1234531,2000")
    summed = adapter(product=None).parse_balance(doc)
    assert (summed.outcome, summed.raw_code, summed.segments) == (Outcome.ACCEPTED, "0", 3000)
    mine = adapter(product="1234531").parse_balance(doc)
    assert (mine.outcome, mine.segments, mine.malformed) == (Outcome.ACCEPTED, 2000, False)
    missing = adapter(product="274463133").parse_balance(doc)
    assert (missing.outcome, missing.raw_code, missing.segments) == (
        Outcome.AUTH_FAILED,
        "no_product",
        None,
    )


def test_balance_with_no_products_is_zero() -> None:
    result = adapter(product=None).parse_balance(HttpResponse(200, b"20130303180000,0"))
    assert (result.outcome, result.segments) == (Outcome.ACCEPTED, 0)


# --- pushes -----------------------------------------------------------------------------


def test_report_push_the_documented_example() -> None:
    # 2.3
    result = push(
        "receiver=admin&pswd=12345&msgid=12345&reportTime=1012241002&mobile=13900210021&status=DELIVRD"
    )
    assert result.accepted
    assert result.reports == (
        Report(
            "13900210021",
            DeliveryStatus.DELIVERED,
            "DELIVRD",
            "12345",
            datetime(2010, 12, 24, 10, 2, tzinfo=CHINA),
        ),
    )
    assert result.replies == ()
    assert (result.answer.status, result.answer.body) == (200, b"0")


def test_reply_push_the_documented_examples() -> None:
    # 3.2, normal and EMS
    base = (
        "receiver=admin&pswd=12345&moTime=1208212205&destcode=1065751600001"
        "&mobile=13800210021&msg=hello"
    )
    normal = push(base)
    assert normal.accepted and normal.reports == ()
    assert normal.replies == (
        Reply("13800210021", "hello", datetime(2012, 8, 21, 22, 5, tzinfo=CHINA), "1065751600001"),
    )
    ems = push(base + "&isems=1&emshead=255,5,5")
    assert ems.replies[0].part == ReplyPart("255", 5, 5)
    assert (ems.answer.status, ems.answer.body) == (200, b"0")


def test_reply_push_in_utf8_by_post() -> None:
    body = b"moTime=1208212205&mobile=13800210021&msg=%E5%A5%BD%E7%9A%84+TD%25"
    result = push("receiver=admin&pswd=12345", body)
    assert result.replies[0].text == "好的 TD%"


@pytest.mark.parametrize(
    ("isems", "emshead", "part"),
    [
        ("0", "255,5,5", None),
        ("1", "234,4,1", ReplyPart("234", 4, 1)),
        ("1", "", None),
        ("1", "234,4", None),
        ("1", "234,4,5", None),
        ("1", "234,x,1", None),
        ("1", "234,4,1,9", None),
    ],
)
def test_ems_head(isems: str, emshead: str, part: ReplyPart | None) -> None:
    result = push(f"receiver=admin&pswd=12345&mobile=1&msg=x&isems={isems}&emshead={emshead}")
    assert result.accepted
    assert result.replies[0].part == part


def test_unreadable_times_leave_the_time_empty() -> None:
    report = push("receiver=admin&pswd=12345&msgid=1&reportTime=1013241002&mobile=1&status=DELIVRD")
    reply = push("receiver=admin&pswd=12345&moTime=abc&mobile=1&msg=x")
    assert report.reports[0].time is None and reply.replies[0].time is None


@pytest.mark.parametrize(
    "query",
    [
        "receiver=admin&pswd=wrong&msgid=1&mobile=1&status=DELIVRD",
        "receiver=Admin&pswd=12345&msgid=1&mobile=1&status=DELIVRD",
        "pswd=12345&msgid=1&mobile=1&status=DELIVRD",
        "receiver=admin&moTime=1208212205&mobile=1&msg=x",
        "",
    ],
)
def test_push_auth_failure(query: str) -> None:
    result = push(query)
    assert not result.accepted
    assert result.reports == () and result.replies == ()
    assert result.answer.status == 403


def test_push_without_configured_auth_takes_anyone() -> None:
    result = push("msgid=1&mobile=1&status=DELIVRD", report_receiver=None, report_password=None)
    assert result.accepted and len(result.reports) == 1


@pytest.mark.parametrize(
    "query",
    [
        "receiver=admin&pswd=12345",
        "receiver=admin&pswd=12345&msgid=1&status=DELIVRD",
        "receiver=admin&pswd=12345&mobile=1&status=DELIVRD",
        "receiver=admin&pswd=12345&msgid=1&mobile=1&status=",
        "receiver=admin&pswd=12345&moTime=1208212205&msg=hello",
    ],
)
def test_push_not_understood(query: str) -> None:
    result = push(query)
    assert not result.accepted and result.answer.status == 400


# --- whatever comes back, nothing raises ------------------------------------------------

GARBAGE = [
    b"",
    b"\n\n",
    b"0",
    b"101",
    b"20110725160412",
    b"20110725160412,",
    b"2011072516041,0\n1",
    b"20110725160412,abc",
    b"20110725160412;0\n1",
    b"<html><body>502 Bad Gateway</body></html>",
    b"\xff\xfe\x00\x01garbage",
    "20110725160412,0\n１２３".encode(),
    b"20110725160412,-1",
]


@pytest.mark.parametrize("body", GARBAGE)
def test_malformed_send_is_ambiguous(body: bytes) -> None:
    result = send(body)
    if result.outcome is Outcome.ACCEPTED:  # a good first line with a bad msgid line
        assert body.startswith(b"20110725160412,0\n") and result.malformed
        return
    assert (result.outcome, result.malformed) == (Outcome.AMBIGUOUS, True)


@pytest.mark.parametrize(
    "body", [*GARBAGE, b"20110725160412,0\n1234567,x", b"20110725160412,0\nabc"]
)
def test_malformed_balance_is_vendor_busy(body: bytes) -> None:
    result = adapter().parse_balance(HttpResponse(200, body))
    assert (result.outcome, result.malformed, result.segments) == (Outcome.VENDOR_BUSY, True, None)


def test_unknown_code_is_ambiguous_and_keeps_the_code() -> None:
    result = send(b"20110725160412,999")
    assert (result.outcome, result.raw_code, result.malformed) == (Outcome.AMBIGUOUS, "999", True)
    balance = adapter().parse_balance(HttpResponse(200, b"20110725160412,999"))
    assert (balance.outcome, balance.raw_code, balance.malformed) == (
        Outcome.VENDOR_BUSY,
        "999",
        True,
    )


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_vendor_busy(status: int) -> None:
    good = b"20110725160412,0\n1234567890100"
    assert send(good, status).outcome is Outcome.VENDOR_BUSY
    assert adapter().parse_balance(HttpResponse(status, good)).outcome is Outcome.VENDOR_BUSY


@pytest.mark.parametrize("status", [301, 308])
def test_redirects_are_malformed(status: int) -> None:
    good = b"20110725160412,0\n1234567890100"
    result = send(good, status)
    assert (result.outcome, result.raw_code, result.malformed) == (
        Outcome.AMBIGUOUS,
        f"http_{status}",
        True,
    )
    assert adapter().parse_balance(HttpResponse(status, good)).malformed


@pytest.mark.parametrize(
    ("query", "body"),
    [
        (b"", b""),
        (b"%", b""),
        (b"status=%G1&msgid=%&mobile=%%", b""),
        (b"receiver=admin&pswd=12345", b"\xff\xfe=\x00&msg=\xc3"),
        (b"receiver=admin&pswd=12345&mobile=1&msg=%B2%E2%CA%D4", b""),  # GBK
        (b"&&&===&receiver&pswd", b""),
    ],
)
def test_odd_pushes_never_raise(query: bytes, body: bytes) -> None:
    a = adapter()
    for method in ("GET", "POST"):
        result = a.parse_push(HttpRequest(method, "/p", query.decode("latin-1"), body))
        assert isinstance(result.accepted, bool)


def test_gbk_reply_text_is_read() -> None:
    result = push("receiver=admin&pswd=12345&mobile=1&msg=%B2%E2%CA%D4")
    assert result.replies[0].text == "测试"


def test_random_bytes_never_raise() -> None:
    rnd = random.Random(253)
    a = adapter()
    prepared = a.build_send(Chunk(("13800138000",), "hi", 1), 0)
    for _ in range(500):
        body = rnd.randbytes(rnd.randrange(0, 64))
        if rnd.random() < 0.5:
            body = b"20110725160412," + body
        status = rnd.choice([200, 200, 200, 404, 500])
        assert a.parse_send(prepared, HttpResponse(status, body)).outcome is not None
        assert a.parse_balance(HttpResponse(status, body)).outcome is not None
        a.parse_push(HttpRequest("POST", "/p", body.decode("latin-1"), body))
