"""c123 codec: golden request bytes, every documented code, the document's examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from adapters.base import DeliveryStatus
from adapters.c123 import codes, wire
from adapters.c123.adapter import C123Adapter
from config.vendor_kinds import C123Settings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend

AUTHKEY = "87B01469201D6557C2685137EB3B5DEC"
AUTH = b"ac=1001%40500008880001&authkey=" + AUTHKEY.encode()
FORM = "application/x-www-form-urlencoded"


def settings(price: float = 0.05, csid: str | None = "101") -> C123Settings:
    return C123Settings(
        kind="c123",
        name="c123",
        base_url="http://smsapi.c123.cn",  # type: ignore[arg-type]
        price_per_segment=price,
        ac="1001@500008880001",
        authkey=AUTHKEY,  # type: ignore[arg-type]
        cgid="80",
        csid=csid,
    )


ADAPTER = C123Adapter(settings())
PHONES = ("15102110086", "15102110087")


def prepared(phones: tuple[str, ...] = PHONES) -> PreparedSend:
    return ADAPTER.build_send(Chunk(phones, "测试", 7), 0)


def send(body: bytes, status: int = 200) -> tuple[Outcome, str, bool]:
    result = ADAPTER.parse_send(prepared(), HttpResponse(status, body))
    return result.outcome, result.raw_code, result.malformed


def poll(request: HttpRequest, body: bytes, status: int = 200) -> tuple[Outcome, str, bool]:
    result = ADAPTER.parse_poll(request, HttpResponse(status, body))
    return result.outcome, result.raw_code, result.malformed


def code_only(name: str, code: int | str) -> bytes:
    return f'<xml name="{name}" result="{code}"/>'.encode()


# --- requests -----------------------------------------------------------------------


def test_send_golden_bytes() -> None:
    request = prepared().request
    assert request.method == "POST"
    assert request.path == "/OpenPlatform/OpenApi"
    # In the URL too, as every example of the document has it.
    assert request.query == "action=sendOnce"
    assert request.content_type == FORM
    assert request.body == (
        b"action=sendOnce&" + AUTH + b"&cgid=80&csid=101"
        b"&c=%E6%B5%8B%E8%AF%95&m=15102110086%2C15102110087"
    )


def test_send_without_csid_and_with_awkward_text() -> None:
    adapter = C123Adapter(settings(csid=None))
    request = adapter.build_send(Chunk(("15102110086",), "a b&c=d+【TD】~", 1), 0).request
    assert request.body == (
        b"action=sendOnce&" + AUTH + b"&cgid=80"
        b"&c=a+b%26c%3Dd%2B%E3%80%90TD%E3%80%91%7E&m=15102110086"
    )


def test_query_requests_golden_bytes() -> None:
    balance = ADAPTER.build_balance(0)
    reports = ADAPTER.build_report_poll(0)
    replies = ADAPTER.build_reply_poll(0)
    assert (balance.method, balance.path) == ("POST", "/OpenPlatform/OpenApi")
    assert balance.body == b"action=getBalance&" + AUTH
    assert (reports.method, reports.path) == ("POST", "/DataPlatform/DataApi")
    assert reports.body == b"action=getSendState&" + AUTH
    assert (replies.method, replies.path) == ("POST", "/DataPlatform/DataApi")
    assert replies.body == b"action=getReply&" + AUTH
    assert {balance.content_type, reports.content_type, replies.content_type} == {FORM}
    assert [r.query for r in (balance, reports, replies)] == [
        "action=getBalance",
        "action=getSendState",
        "action=getReply",
    ]


def test_limits_and_repr_hide_the_key() -> None:
    limits = ADAPTER.limits
    assert (limits.max_numbers, limits.max_text_chars) == (1000, 1000)
    assert limits.balance_interval_s == 10.0
    assert (limits.report_poll_interval_s, limits.reply_poll_interval_s) == (10.0, 10.0)
    assert AUTHKEY not in repr(ADAPTER) and AUTHKEY not in repr(ADAPTER.settings)


@pytest.mark.parametrize("ac", ["1001", "1001@", "@5000", "10 01@5000", "1@2@3", ""])
def test_account_format_is_checked_at_start_up(ac: str) -> None:
    with pytest.raises(ValidationError, match="ac"):
        C123Settings.model_validate({**settings().model_dump(), "authkey": AUTHKEY, "ac": ac})


# --- every documented code ----------------------------------------------------------

# The send table, verbatim from sendOnce / sendBatch / sendParam.
SEND_TABLE = {
    1: Outcome.ACCEPTED,
    0: Outcome.AUTH_FAILED,
    -1: Outcome.RATE_LIMITED,  # too fast, time limit, or an unbound IP
    -2: Outcome.AUTH_FAILED,
    -3: Outcome.AUTH_FAILED,
    -4: Outcome.REQUEST_INVALID,
    -5: Outcome.AUTH_FAILED,
    -6: Outcome.AUTH_FAILED,
    -7: Outcome.AUTH_FAILED,
    -8: Outcome.AUTH_FAILED,
    -9: Outcome.BALANCE_EXHAUSTED,
    -10: Outcome.VENDOR_BUSY,
    -11: Outcome.VENDOR_BUSY,
}
POLL_TABLE = {c: SEND_TABLE[c] for c in (1, 0, -1, -2, -3)}  # getSendState, getReply
BALANCE_TABLE = {c: SEND_TABLE[c] for c in (1, 0, -1, -2, -3, -5, -6, -7)}
UPDATE_KEY_TABLE = {c: SEND_TABLE[c] for c in (1, 0, -1, -2, -3, -5, -6, -7, -10)}


@pytest.mark.parametrize(("code", "outcome"), SEND_TABLE.items())
def test_send_codes(code: int, outcome: Outcome) -> None:
    body = code_only("sendOnce", code)
    if code == 1:
        body = b'<xml name="sendOnce" result="1"><Item msgid="9"/></xml>'
    assert send(body) == (outcome, str(code), False)
    assert codes.CODES[code][1]  # every code carries its Chinese description


@pytest.mark.parametrize("action", ["getSendState", "getReply"])
@pytest.mark.parametrize(("code", "outcome"), POLL_TABLE.items())
def test_poll_codes(action: str, code: int, outcome: Outcome) -> None:
    request = ADAPTER.build_reply_poll(0) if action == "getReply" else ADAPTER.build_report_poll(0)
    assert poll(request, code_only(action, code)) == (outcome, str(code), False)


@pytest.mark.parametrize(("code", "outcome"), BALANCE_TABLE.items())
def test_balance_codes(code: int, outcome: Outcome) -> None:
    body = code_only("getBalance", code)
    if code == 1:
        body = b'<xml name="getBalance" result="1"><Item remain="1.000"/></xml>'
    result = ADAPTER.parse_balance(HttpResponse(200, body))
    assert (result.outcome, result.raw_code, result.malformed) == (outcome, str(code), False)


@pytest.mark.parametrize(("code", "outcome"), UPDATE_KEY_TABLE.items())
def test_update_key_codes(code: int, outcome: Outcome) -> None:
    assert codes.outcome_of(code) is outcome


OPERATOR_TABLE = {
    "DELIVRD": DeliveryStatus.DELIVERED,
    "EXPIRED": DeliveryStatus.FAILED,
    "DELETED": DeliveryStatus.FAILED,
    "UNDELIV": DeliveryStatus.FAILED,
    "ACCEPTD": DeliveryStatus.UNKNOWN,
    "UNKNOWN": DeliveryStatus.UNKNOWN,
    "REJECTD": DeliveryStatus.FAILED,
    "DTBLACK": DeliveryStatus.FAILED,
    "DTWORDS": DeliveryStatus.FAILED,
    "DTFAILD": DeliveryStatus.FAILED,
    "ERRBUSY": DeliveryStatus.UNKNOWN,
}


def report_body(*items: str) -> bytes:
    return ('<xml name="getSendState" result="1">' + "".join(items) + "</xml>").encode()


@pytest.mark.parametrize(("operator", "status"), OPERATOR_TABLE.items())
def test_operator_statuses_decide_when_result_is_unknown(
    operator: str, status: DeliveryStatus
) -> None:
    body = report_body(
        f'<Item id="1" msgid="5" mobile="13900000000" result="0" return="{operator}"/>'
    )
    result = ADAPTER.parse_poll(ADAPTER.build_report_poll(0), HttpResponse(200, body))
    assert [(r.status, r.raw_status) for r in result.reports] == [(status, operator)]
    assert codes.OPERATOR_STATES[operator][1]


@pytest.mark.parametrize(
    ("result", "status"),
    [("0", DeliveryStatus.UNKNOWN), ("1", DeliveryStatus.FAILED), ("2", DeliveryStatus.DELIVERED)],
)
def test_send_state_result_field(result: str, status: DeliveryStatus) -> None:
    body = report_body(f'<Item id="1" msgid="5" mobile="13900000000" result="{result}"/>')
    parsed = ADAPTER.parse_poll(ADAPTER.build_report_poll(0), HttpResponse(200, body))
    assert [(r.status, r.raw_status) for r in parsed.reports] == [(status, result)]


def test_result_outranks_operator() -> None:
    assert codes.delivery_status("1", "DELIVRD") is DeliveryStatus.FAILED
    assert codes.delivery_status("2", "UNDELIV") is DeliveryStatus.DELIVERED
    assert codes.delivery_status(None, None) is DeliveryStatus.UNKNOWN
    assert codes.delivery_status("x", "delivrd") is DeliveryStatus.DELIVERED


# --- the document's examples --------------------------------------------------------

SEND_OK = b"""<xml name="sendOnce" result="1">

<Item cid="500008880001" sid="1001" msgid="36217" total="2" price="0.10" remain="170.040"/>
</xml>"""


def test_send_accepted_gives_one_msgid_to_every_phone() -> None:
    result = ADAPTER.parse_send(prepared(), HttpResponse(200, SEND_OK))
    assert result.outcome is Outcome.ACCEPTED and not result.malformed
    assert result.message_ids == {"15102110086": "36217", "15102110087": "36217"}


def test_send_accepted_without_msgid_is_accepted_but_flagged() -> None:
    body = b'<xml name="sendOnce" result="1"><Item cid="1" total="2"/></xml>'
    result = ADAPTER.parse_send(prepared(), HttpResponse(200, body))
    assert (result.outcome, result.malformed, dict(result.message_ids)) == (
        Outcome.ACCEPTED,
        True,
        {},
    )


@pytest.mark.parametrize(
    ("remain", "price", "segments"),
    [
        ("170.040", 0.05, 3400),
        ("170.040", 0.10, 1700),
        ("0.150", 0.05, 3),  # a float division would say 2
        ("0.049", 0.05, 0),
        ("-3.500", 0.05, 0),  # overdrawn
        ("170.040", 0.0, None),  # no price: no way to tell
    ],
)
def test_balance_is_money_turned_into_segments(
    remain: str, price: float, segments: int | None
) -> None:
    body = f"""<xml name="getBalance" result="1">


<Item cid="500008880001" sid="1001" remain="{remain}"/>
</xml>""".encode()
    result = C123Adapter(settings(price=price)).parse_balance(HttpResponse(200, body))
    assert (result.outcome, result.segments, result.malformed) == (
        Outcome.ACCEPTED,
        segments,
        False,
    )


@pytest.mark.parametrize(
    "item", ["<Item/>", '<Item remain=""/>', '<Item remain="NaN"/>', '<Item remain="1e3"/>', ""]
)
def test_balance_without_a_number_is_malformed(item: str) -> None:
    body = f'<xml name="getBalance" result="1">{item}</xml>'.encode()
    result = ADAPTER.parse_balance(HttpResponse(200, body))
    assert (result.outcome, result.segments, result.malformed) == (Outcome.VENDOR_BUSY, None, True)


SEND_STATE_EXAMPLE = b"""<xml name="getSendState" result="1">


<Item id="1" msgid="xxx" mobile="1347****687" result="2" return="DELIVRD"/>


<Item id="2" msgid="xxx" mobile="1347****111" result="1" return="REJECTD"/>

</xml>"""


def test_send_state_example() -> None:
    result = ADAPTER.parse_poll(ADAPTER.build_report_poll(0), HttpResponse(200, SEND_STATE_EXAMPLE))
    assert (result.outcome, result.raw_code, result.malformed, result.replies) == (
        Outcome.ACCEPTED,
        "1",
        False,
        (),
    )
    assert [(r.phone, r.status, r.raw_status, r.message_id, r.time) for r in result.reports] == [
        ("1347****687", DeliveryStatus.DELIVERED, "DELIVRD", "xxx", None),
        ("1347****111", DeliveryStatus.FAILED, "REJECTD", "xxx", None),
    ]


REPLY_EXAMPLE = b"""<xml name="getReply" result="1">


<Item id="1" time="1373883378000" mobile="137****4752" content="xx"/>

<Item id="2" time="1373885378000" mobile="137****4112" content="xx"/>
</xml>"""


def test_reply_example_time_in_milliseconds() -> None:
    result = ADAPTER.parse_poll(ADAPTER.build_reply_poll(0), HttpResponse(200, REPLY_EXAMPLE))
    assert (result.outcome, result.malformed, result.reports) == (Outcome.ACCEPTED, False, ())
    assert [(r.phone, r.text, r.time) for r in result.replies] == [
        ("137****4752", "xx", datetime(2013, 7, 15, 10, 16, 18, tzinfo=UTC)),
        ("137****4112", "xx", datetime(2013, 7, 15, 10, 49, 38, tzinfo=UTC)),
    ]
    first = result.replies[0].time
    assert first is not None and first.utcoffset() == timedelta(hours=8)
    assert first.strftime("%Y-%m-%d %H:%M") == "2013-07-15 18:16"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1373883378", datetime(2013, 7, 15, 10, 16, 18, tzinfo=UTC)),  # seconds, as documented
        ("1373883378000", datetime(2013, 7, 15, 10, 16, 18, tzinfo=UTC)),  # as in the example
        ("", None),
        ("soon", None),
        ("-5", None),
        ("99999999999999999999", None),
    ],
)
def test_reply_time_by_magnitude(value: str, expected: datetime | None) -> None:
    assert wire.parse_epoch(value, ZoneInfo("Asia/Shanghai")) == expected


def test_reply_text_is_unescaped_and_exact() -> None:
    body = wire.encode_answer(
        "getReply", 1, [{"time": "1", "mobile": "13912345678", "content": ' 好的 "TD"&<\n'}]
    )
    result = ADAPTER.parse_poll(ADAPTER.build_reply_poll(0), HttpResponse(200, body))
    assert [r.text for r in result.replies] == [' 好的 "TD"&<\n']


def test_broken_items_are_skipped_and_flagged_others_kept() -> None:
    body = report_body(
        '<Item id="1" msgid="5" result="2"/>',
        '<Item id="2" msgid="6" mobile="13900000000" result="2" return="DELIVRD"/>',
    )
    result = ADAPTER.parse_poll(ADAPTER.build_report_poll(0), HttpResponse(200, body))
    assert result.malformed and [r.message_id for r in result.reports] == ["6"]
    body = (
        b'<xml name="getReply" result="1"><Item mobile="139"/><Item mobile="1" content="ok"/></xml>'
    )
    result = ADAPTER.parse_poll(ADAPTER.build_reply_poll(0), HttpResponse(200, body))
    assert result.malformed and [r.text for r in result.replies] == ["ok"]


def test_empty_poll() -> None:
    assert poll(ADAPTER.build_report_poll(0), b'<xml name="getSendState" result="1"/>') == (
        Outcome.ACCEPTED,
        "1",
        False,
    )


def test_push_is_refused() -> None:
    result = ADAPTER.parse_push(HttpRequest("POST", "/push/c123", body=b"x=1"))
    assert (result.accepted, result.answer.status, result.reports) == (False, 404, ())


# --- malformed answers --------------------------------------------------------------

MALFORMED = [
    b"",
    b"   \r\n",
    bytes(range(256)),
    b"\xff\xfe<\x00x\x00",
    b"<html><body>502 Bad Gateway</body></html>",
    b'<xml name="sendOnce" result="1"><Item msgid="1"',  # truncated
    b'<xml name="sendOnce"/>',  # no result
    b'<xml name="sendOnce" result="ok"/>',
    b'<xml name="sendOnce" result=""/>',
    b"1",
    '<xml name="sendOnce" result="1"><Item msgid="好"/></xml>'.encode("gbk"),  # wrong charset
    b'<?xml version="1.0" encoding="gbk"?><xml result="1"/>',  # a charset expat refuses
    b'<?xml version="1.0" encoding="nope"?><xml result="1"/>',
    b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml result="1"><Item msgid="&a;"/></xml>',
    b'{"result": 1}',
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_send_is_ambiguous(body: bytes) -> None:
    outcome, _, malformed = send(body)
    assert (outcome, malformed) == (Outcome.AMBIGUOUS, True)


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_balance_and_polls_are_vendor_busy(body: bytes) -> None:
    balance = ADAPTER.parse_balance(HttpResponse(200, body))
    assert (balance.outcome, balance.malformed, balance.segments) == (
        Outcome.VENDOR_BUSY,
        True,
        None,
    )
    for request in (ADAPTER.build_report_poll(0), ADAPTER.build_reply_poll(0)):
        outcome, _, malformed = poll(request, body)
        assert (outcome, malformed) == (Outcome.VENDOR_BUSY, True)


def test_unknown_code_on_a_send_is_ambiguous() -> None:
    assert send(code_only("sendOnce", -99)) == (Outcome.AMBIGUOUS, "-99", True)


def test_unknown_code_on_a_query_is_vendor_busy() -> None:
    result = ADAPTER.parse_balance(HttpResponse(200, code_only("getBalance", -99)))
    assert (result.outcome, result.raw_code) == (Outcome.VENDOR_BUSY, "-99")
    assert poll(ADAPTER.build_report_poll(0), code_only("getSendState", 7))[0] is (
        Outcome.VENDOR_BUSY
    )


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_vendor_busy(status: int) -> None:
    assert send(SEND_OK, status) == (Outcome.VENDOR_BUSY, f"http_{status}", False)
    balance = ADAPTER.parse_balance(HttpResponse(status, b"oops"))
    assert (balance.outcome, balance.malformed) == (Outcome.VENDOR_BUSY, False)
    assert poll(ADAPTER.build_report_poll(0), b"", status)[0] is Outcome.VENDOR_BUSY


@pytest.mark.parametrize("status", [302, 307])
def test_redirects_are_not_understood(status: int) -> None:
    assert send(SEND_OK, status) == (Outcome.AMBIGUOUS, f"http_{status}", True)
    balance = ADAPTER.parse_balance(HttpResponse(status, b""))
    assert (balance.outcome, balance.malformed) == (Outcome.VENDOR_BUSY, True)
    assert poll(ADAPTER.build_reply_poll(0), SEND_STATE_EXAMPLE, status)[2] is True


# --- the simulator's bytes are the document's ---------------------------------------


def test_encoded_answers_look_like_the_document() -> None:
    assert wire.encode_answer("sendOnce", -1) == b'<xml name="sendOnce" result="-1"/>'
    item = {"cid": "5", "sid": "1", "remain": "170.040"}
    assert wire.encode_answer("getBalance", 1, [item]) == (
        b'<xml name="getBalance" result="1">\n<Item cid="5" sid="1" remain="170.040"/>\n</xml>'
    )


def test_the_authkey_goes_upper_case_as_the_document_gives_it() -> None:
    lower = C123Settings(**{**settings().model_dump(), "authkey": AUTHKEY.lower()})
    assert C123Adapter(lower).build_balance(0).body == b"action=getBalance&" + AUTH
