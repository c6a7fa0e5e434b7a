"""sms10000: golden bytes, every documented code, pushes, hostile bodies, and its simulator."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from adapters.base import DeliveryStatus, Reply, Report
from adapters.simulator import SimulatorServer
from adapters.sms10000 import wire
from adapters.sms10000.adapter import Sms10000Adapter
from adapters.sms10000.simulator import Sms10000Simulator
from config.vendor_kinds import Sms10000Settings
from core.outcome import Outcome
from core.send import Chunk, HttpRequest, HttpResponse, PreparedSend

NOW_MS = 1_700_000_000_000
PHONES = ("13025452766", "13800138000")


def adapter(epr_id: int = 1, user_id: str = "sword123") -> Sms10000Adapter:
    return Sms10000Adapter(
        Sms10000Settings(
            kind="sms10000",
            name="sms10000",
            base_url="http://127.0.0.1:1",
            price_per_segment=0.04,
            epr_id=epr_id,
            user_id=user_id,
            password="secret",
        )
    )


def prepared() -> PreparedSend:
    return adapter().build_send(Chunk(PHONES, "hello", 123423433), NOW_MS)


def send_result(body: bytes, status: int = 200) -> tuple[Outcome, str, bool]:
    result = adapter().parse_send(prepared(), HttpResponse(status, body))
    return result.outcome, result.raw_code, result.malformed


# --- build_send ------------------------------------------------------------------------


def test_send_golden_bytes() -> None:
    chunk = Chunk(PHONES, "【测试】您好 a+b&c", 123423433)
    sent = adapter().build_send(chunk, NOW_MS)
    assert sent.request.method == "POST"
    assert sent.request.path == "/api/webservice"
    assert sent.request.query == ""
    assert sent.request.content_type == "application/x-www-form-urlencoded"
    assert sent.request.body == (
        b"cmd=send&eprId=1&userId=sword123&timestamp=1700000000000"
        b"&key=aaffd5ee4f16c899c9e1783375924649&msgId=123423433&format=1"
        b"&mobile=13025452766%2C13800138000"
        b"&content=%E3%80%90%E6%B5%8B%E8%AF%95%E3%80%91%E6%82%A8%E5%A5%BD+a%2Bb%26c"
    )
    assert sent.message_ids == {"13025452766": "123423433", "13800138000": "123423433"}


def test_key_is_lowercase_md5_of_the_concatenation() -> None:
    assert wire.sign(1, "sword123", "secret", NOW_MS) == (
        hashlib.md5(b"1sword123secret1700000000000").hexdigest()
    )
    assert wire.sign(1, "sword123", "secret", NOW_MS) == "aaffd5ee4f16c899c9e1783375924649"


@pytest.mark.parametrize("attempt_id", [-1, 2**31, 2**40])
def test_msg_id_must_fit_an_int(attempt_id: int) -> None:
    with pytest.raises(ValueError, match="msgId"):
        adapter().build_send(Chunk(PHONES, "hi", attempt_id), NOW_MS)


def test_no_balance_query_and_no_polls() -> None:
    a = adapter()
    assert a.build_balance(NOW_MS) is None
    assert a.build_report_poll(NOW_MS) is None
    assert a.build_reply_poll(NOW_MS) is None
    assert a.limits.max_numbers == 1000
    assert a.limits.max_text_chars == 500


def test_repr_shows_the_account_not_the_password() -> None:
    assert repr(adapter()) == "<Sms10000Adapter sms10000 eprId=1 userId=sword123>"
    assert "secret" not in repr(adapter().settings)


# --- send answers ----------------------------------------------------------------------

DOCUMENTED = [
    ("1", Outcome.ACCEPTED),
    ("0", Outcome.VENDOR_BUSY),
    ("-1", Outcome.REQUEST_INVALID),
    ("-2", Outcome.AUTH_FAILED),
    ("-3", Outcome.AUTH_FAILED),
    ("-4", Outcome.IP_REJECTED),
    ("-5", Outcome.AUTH_FAILED),
    ("-6", Outcome.AUTH_FAILED),
    ("-7", Outcome.REQUEST_INVALID),
    ("-8", Outcome.CONTENT_REJECTED),
]


@pytest.mark.parametrize(("code", "outcome"), DOCUMENTED)
def test_every_code_as_json(code: str, outcome: Outcome) -> None:
    body = f'{{"result":"{code}","tips":"提示"}}'.encode()
    assert send_result(body) == (outcome, code, False)


@pytest.mark.parametrize(("code", "outcome"), DOCUMENTED)
def test_every_code_as_xml(code: str, outcome: Outcome) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f"<serviceResult><result>{code}</result><tips>提示</tips></serviceResult>"
    ).encode()
    assert send_result(body) == (outcome, code, False)


def test_the_documents_examples() -> None:
    json_body = '{"result":"1","tips":"成功"}'.encode()
    # As printed, in a word processor's quotes.
    printed = "{“result”:”1”,”tips”:”成功”}".encode()
    xml_body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        "<serviceResult><result>1</result><tips>提交成功</tips></serviceResult>"
    ).encode()
    for body in (json_body, printed, xml_body):
        result = adapter().parse_send(prepared(), HttpResponse(200, body))
        assert result.outcome is Outcome.ACCEPTED
        assert result.message_ids == {p: "123423433" for p in PHONES}
        assert not result.malformed


def test_refusals_carry_no_message_ids_and_keep_the_tips() -> None:
    body = '{"result":"-3","tips":"Key验证失败"}'.encode()
    result = adapter().parse_send(prepared(), HttpResponse(200, body))
    assert result.message_ids == {}
    assert result.detail == "Key验证失败"


@pytest.mark.parametrize("tips", ["余额不足", "账户欠费"])
def test_zero_naming_the_balance_is_balance_exhausted(tips: str) -> None:
    body = f'{{"result":"0","tips":"{tips}"}}'.encode()
    assert send_result(body) == (Outcome.BALANCE_EXHAUSTED, "0", False)


def test_numeric_result_and_whitespace_and_bom_are_read() -> None:
    assert send_result(b'{"result":1}') == (Outcome.ACCEPTED, "1", False)
    assert send_result(b'\xef\xbb\xbf\r\n {"result": "-4", "tips": ""}\n') == (
        Outcome.IP_REJECTED,
        "-4",
        False,
    )


@pytest.mark.parametrize(
    ("body", "raw"),
    [
        (b'{"result":"-99","tips":"?"}', "-99"),
        (b'{"result":"ok"}', "ok"),
        (b'{"result":"\xd9\xa1"}', "\u0661"),  # an Arabic-Indic one is not a code
        (b"<serviceResult><result>7</result></serviceResult>", "7"),
    ],
)
def test_unknown_code_is_ambiguous(body: bytes, raw: str) -> None:
    assert send_result(body) == (Outcome.AMBIGUOUS, raw, True)


HOSTILE_XML = [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<serviceResult><result>&b;</result></serviceResult>",
    b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><serviceResult><result>1</result></serviceResult>',
    b'<!ENTITY x "1"><serviceResult><result>1</result></serviceResult>',
    "<serviceResult><result>1</result></serviceResult>".encode("utf-16"),
]

MALFORMED = [
    b"",
    b"   \r\n",
    b"\x00\xff\xfe\x80garbage<html>\xff",
    b"<html><body>502 Bad Gateway</body></html>",
    b"<serviceResult><result>1</result><tips>",
    b'{"result":"1",',
    b"[1]",
    b'"1"',
    b"1",
    b'{"tips":"no result"}',
    b'{"result":true}',
    b'{"result":null}',
    b"[" * 100_000,
    b"<a>" * 10_000,
    b'{"result":"1","tips":"\xb3\xc9\xb9\xa6"}',  # GBK: not the document's charset
    *HOSTILE_XML,
]


@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_answers_are_ambiguous(body: bytes) -> None:
    outcome, raw, malformed = send_result(body)
    assert (outcome, malformed) == (Outcome.AMBIGUOUS, True)
    assert raw == "http_200"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_vendor_busy(status: int) -> None:
    assert send_result(b'{"result":"1"}', status) == (Outcome.VENDOR_BUSY, f"http_{status}", False)


@pytest.mark.parametrize("status", [301, 303])
def test_redirects_are_ambiguous(status: int) -> None:
    assert send_result(b'{"result":"1"}', status) == (Outcome.AMBIGUOUS, f"http_{status}", True)


def test_balance_and_poll_parsers_never_raise() -> None:
    a = adapter()
    assert a.parse_balance(HttpResponse(200, b"x")).outcome is Outcome.REQUEST_INVALID
    poll = a.parse_poll(HttpRequest("GET", "/"), HttpResponse(200, b"x"))
    assert poll.outcome is Outcome.REQUEST_INVALID


# --- pushes ----------------------------------------------------------------------------

STATUS_EXAMPLE = """<returnForm>

<type>1</type>\x20

<count>2</count>

<list>

<pushStatusForm>

<eprId>1</eprId>

<mobile>13025452766</mobile>

<msgId>123423433</msgId>

<status>1</status>

<userId>sword123</userId>

</pushStatusForm>

<pushStatusForm>

<eprId>1</eprId>

<mobile>13025452766</mobile>

<msgId>123423433</msgId>

<status>1</status>

<userId>sword123</userId>

</pushStatusForm>

</list>

</returnForm>
"""

REPLY_EXAMPLE = """<returnForm>

<type>2</type>\x20

<count>2</count>

<list>

<pushSmsForm>

<eprId>1</eprId>

<mobile>13025452766</mobile>

<msgId>123423433</msgId>

<content>测试1</content>

<userId>sword123</userId>

</pushSmsForm>

<pushSmsForm>

<eprId>1</eprId>

<mobile>13025452766</mobile>

<msgId>123423433</msgId>

<content>测试2</content>

<userId>sword123</userId>

</pushSmsForm>

</list>

</returnForm>
"""


def pushed(body: bytes) -> HttpRequest:
    return HttpRequest("POST", "/push/sms10000", body=body, content_type="text/xml")


def test_status_push_example() -> None:
    result = adapter().parse_push(pushed(STATUS_EXAMPLE.encode()))
    report = Report("13025452766", DeliveryStatus.DELIVERED, "1", "123423433")
    assert result.reports == (report, report)
    assert result.replies == ()
    assert result.accepted
    assert result.answer == HttpResponse(200, b"SUCCESS", "text/plain")


def test_reply_push_example() -> None:
    result = adapter().parse_push(pushed(REPLY_EXAMPLE.encode()))
    assert result.replies == (
        Reply("13025452766", "测试1", message_id="123423433"),
        Reply("13025452766", "测试2", message_id="123423433"),
    )
    assert result.reports == ()
    assert result.accepted
    assert result.answer.status == 200 and result.answer.body == b"SUCCESS"


def status_push(*statuses: str, epr_id: str = "1", user_id: str = "sword123") -> bytes:
    items = [
        wire.PushItem(f"1390000000{i}", str(100 + i), epr_id, user_id, status=s)
        for i, s in enumerate(statuses)
    ]
    return wire.encode_push(wire.STATUS_PUSH, items)


def test_push_statuses_map_through_the_table() -> None:
    result = adapter().parse_push(pushed(status_push("1", "-1", "0", "x")))
    assert [(r.status, r.raw_status, r.message_id) for r in result.reports] == [
        (DeliveryStatus.DELIVERED, "1", "100"),
        (DeliveryStatus.FAILED, "-1", "101"),
        (DeliveryStatus.UNKNOWN, "0", "102"),
        (DeliveryStatus.UNKNOWN, "x", "103"),
    ]


def test_empty_push_is_understood() -> None:
    result = adapter().parse_push(
        pushed(b"<returnForm><type>1</type><count>0</count></returnForm>")
    )
    assert result.accepted and result.reports == () and result.answer.body == b"SUCCESS"


def test_simulator_pushes_round_trip() -> None:
    items = [wire.PushItem("13912345678", "9", "1", "sword123", content=" a<b & 'c' ")]
    result = adapter().parse_push(pushed(wire.encode_push(wire.REPLY_PUSH, items)))
    assert result.replies == (Reply("13912345678", " a<b & 'c' ", message_id="9"),)


def test_another_accounts_push_is_refused() -> None:
    for body in (status_push("1", epr_id="2"), status_push("1", user_id="someone")):
        result = adapter().parse_push(pushed(body))
        assert not result.accepted and result.reports == ()
        assert result.answer.status == 403 and result.answer.body != b"SUCCESS"


@pytest.mark.parametrize(
    "epr_id, user_id", [("", ""), ("1", ""), ("", "sword123"), ("01", "sword123")]
)
def test_a_push_without_our_account_in_every_item_is_refused(epr_id: str, user_id: str) -> None:
    # The document puts eprId and userId in every item; an empty one is not ours.
    for kind, value in ((wire.STATUS_PUSH, {"status": "1"}), (wire.REPLY_PUSH, {"content": "x"})):
        items = [
            wire.PushItem("13900000000", "1", "1", "sword123", **value),
            wire.PushItem("13900000001", "2", epr_id, user_id, **value),
        ]
        result = adapter().parse_push(pushed(wire.encode_push(kind, items)))
        assert not result.accepted and result.reports == () and result.replies == ()
        assert result.answer == HttpResponse(403, b"FAIL", "text/plain")
    missing = STATUS_EXAMPLE.replace("<userId>sword123</userId>", "").encode()
    assert adapter().parse_push(pushed(missing)).answer.status == 403


BAD_PUSHES = [
    b"",
    b"\x00\xff\xfe\x80garbage",
    b"<html><body>hello</body></html>",
    STATUS_EXAMPLE.encode()[:120],
    b"<returnForm><type>3</type><count>0</count></returnForm>",
    b"<returnForm><count>0</count></returnForm>",
    b"<returnForm><type>1</type><list><pushSmsForm><mobile>1</mobile>"
    b"<msgId>1</msgId><content>x</content></pushSmsForm></list></returnForm>",
    b"<returnForm><type>1</type><list><pushStatusForm><msgId>1</msgId>"
    b"<status>1</status></pushStatusForm></list></returnForm>",
    b"<returnForm><type>1</type><list><pushStatusForm><mobile>139</mobile>"
    b"<status>1</status></pushStatusForm></list></returnForm>",
    b"<returnForm><type>2</type><list><pushSmsForm><mobile>139</mobile>"
    b"</pushSmsForm></list></returnForm>",
    b'<!DOCTYPE returnForm [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<returnForm><type>2</type><list><pushSmsForm><mobile>139</mobile>"
    b"<content>&x;</content></pushSmsForm></list></returnForm>",
    REPLY_EXAMPLE.encode("utf-16"),
    REPLY_EXAMPLE.encode("gbk"),
    b"<returnForm><type>1</type><list>" + b"<a>" * 100_000,
    b" " * (1024 * 1024) + STATUS_EXAMPLE.encode(),
    *HOSTILE_XML,
]


@pytest.mark.parametrize("body", BAD_PUSHES, ids=range(len(BAD_PUSHES)))
def test_bad_pushes_are_refused_so_the_vendor_pushes_again(body: bytes) -> None:
    result = adapter().parse_push(pushed(body))
    assert not result.accepted
    assert result.reports == () and result.replies == ()
    assert result.answer.status == 400 and result.answer.body == b"FAIL"


# --- the simulator ---------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(Sms10000Simulator(password="secret")) as running:
        yield running


async def exchange(server: SimulatorServer, request: HttpRequest) -> HttpResponse:
    url = server.url + request.path + (f"?{request.query}" if request.query else "")
    headers = {"Content-Type": request.content_type} if request.content_type else None
    async with (
        aiohttp.ClientSession() as session,
        session.request(request.method, url, data=request.body, headers=headers) as resp,
    ):
        return HttpResponse(resp.status, await resp.read(), resp.content_type)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def simulated(server: SimulatorServer, body: bytes, *, get: bool = False) -> Outcome:
    request = (
        HttpRequest("GET", wire.PATH, query=body.decode())
        if get
        else HttpRequest(
            "POST", wire.PATH, body=body, content_type="application/x-www-form-urlencoded"
        )
    )
    return adapter().parse_send(prepared(), await exchange(server, request)).outcome


def form(**fields: object) -> bytes:
    values = {
        "epr_id": 1,
        "user_id": "sword123",
        "password": "secret",
        "timestamp": wall_ms(),
        "msg_id": 7,
        "phones": PHONES,
        "text": "你好",
    }
    values.update(fields)
    return wire.encode_send(**values)  # type: ignore[arg-type]


async def test_simulator_accepts_a_signed_send(server: SimulatorServer) -> None:
    assert await simulated(server, form()) is Outcome.ACCEPTED
    assert await simulated(server, form(msg_id=8), get=True) is Outcome.ACCEPTED
    assert [(m.message_id, m.phone, m.text) for m in server.simulator.accepted] == [
        ("7", PHONES[0], "你好"),
        ("7", PHONES[1], "你好"),
        ("8", PHONES[0], "你好"),
        ("8", PHONES[1], "你好"),
    ]


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"timestamp": 1_700_000_000_000}, Outcome.AUTH_FAILED),  # -2: stale
        ({"password": "wrong"}, Outcome.AUTH_FAILED),  # -3
        ({"epr_id": 2}, Outcome.AUTH_FAILED),  # -5
        ({"user_id": "nobody"}, Outcome.AUTH_FAILED),  # -6
        ({"text": ""}, Outcome.REQUEST_INVALID),  # -1: missing
        ({"msg_id": 2**31}, Outcome.REQUEST_INVALID),
        ({"text": "x" * 501}, Outcome.REQUEST_INVALID),
        ({"phones": ("12345",)}, Outcome.REQUEST_INVALID),
    ],
)
async def test_simulator_refusals(
    server: SimulatorServer, fields: dict[str, object], outcome: Outcome
) -> None:
    assert await simulated(server, form(**fields)) is outcome
    assert server.simulator.accepted == []


async def test_simulator_answers_xml_when_asked(server: SimulatorServer) -> None:
    body = form().replace(b"format=1", b"format=2")
    answer = await exchange(server, HttpRequest("POST", wire.PATH, body=body))
    assert (
        answer.body
        == (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            "<serviceResult><result>1</result><tips>成功</tips></serviceResult>"
        ).encode()
    )


async def test_simulator_accepts_an_uppercase_key(server: SimulatorServer) -> None:
    body = form(timestamp=(now := wall_ms()))
    key = wire.sign(1, "sword123", "secret", now)
    assert await simulated(server, body.replace(key.encode(), key.upper().encode())) is (
        Outcome.ACCEPTED
    )


# --- the simulator's pushes ------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[bytes], list[bytes]]]:
    """A push receiver answering each push with the next scripted answer, then SUCCESS."""
    bodies: list[bytes] = []
    script: list[bytes] = []

    async def receive(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(body=script.pop(0) if script else b"SUCCESS")

    app = web.Application()
    app.router.add_post("/push", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/push", bodies, script
    await runner.cleanup()


async def test_push_is_repeated_until_success(
    receiver: tuple[str, list[bytes], list[bytes]],
) -> None:
    url, bodies, script = receiver
    script += [b"FAIL", b" SUCCESS", b"success"]
    sim = Sms10000Simulator()
    async with SimulatorServer(sim):
        sim.faults.push_url = url
        sim.push_backoff_s = 0.01
        sim.inject_reply("13912345678", "好的")
        await sim.push([], sim.take_replies())
    assert len(bodies) == 4 and len(set(bodies)) == 1
    replies = adapter().parse_push(pushed(bodies[0])).replies
    assert [(r.phone, r.text) for r in replies] == [("13912345678", "好的")]
    assert sim.dropped_pushes == 0


async def test_push_is_dropped_after_its_attempts(
    receiver: tuple[str, list[bytes], list[bytes]],
) -> None:
    url, bodies, script = receiver
    script += [b"FAIL"] * 10
    sim = Sms10000Simulator()
    async with SimulatorServer(sim):
        sim.faults.push_url = url
        sim.push_backoff_s = 0.01
        sim.inject_reply("13912345678", "好的")
        await sim.push([], sim.take_replies())
    assert len(bodies) == sim.push_attempts == 4
    assert sim.dropped_pushes == 1


async def test_accepted_messages_are_pushed_in_batches(
    receiver: tuple[str, list[bytes], list[bytes]],
) -> None:
    url, bodies, _ = receiver
    sim = Sms10000Simulator()
    async with SimulatorServer(sim):
        sim.faults.push_url = url
        sim.faults.report_delay_s = 0.0
        for i in range(150):
            sim.accept("42", f"139{i:08d}", "hi")
        await sim.push(sim.due_reports(), [])
    reports = [r for body in bodies for r in adapter().parse_push(pushed(body)).reports]
    assert len(bodies) == 2 and len(reports) == 150
    assert {r.message_id for r in reports} == {"42"}
