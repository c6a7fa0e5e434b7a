"""The one table of HTTP statuses, and every adapter reading it before the body."""

from __future__ import annotations

import pytest

from adapters.base import Adapter
from adapters.http_status import StatusVerdict, classify_status
from adapters.registry import make_adapter
from core.outcome import Outcome
from core.send import Chunk, HttpResponse
from tests.adapters.cases import CASES, VendorCase


@pytest.mark.parametrize(
    ("status", "send", "query"),
    [
        (200, None, None),
        (202, None, None),
        (299, None, None),
        (429, Outcome.RATE_LIMITED, Outcome.RATE_LIMITED),
        (401, Outcome.AUTH_FAILED, Outcome.AUTH_FAILED),
        (403, Outcome.IP_REJECTED, Outcome.IP_REJECTED),
        (400, Outcome.REFUSED, Outcome.REFUSED),
        (404, Outcome.REFUSED, Outcome.REFUSED),
        (405, Outcome.REFUSED, Outcome.REFUSED),
        (418, Outcome.REFUSED, Outcome.REFUSED),
        (500, Outcome.VENDOR_BUSY, Outcome.VENDOR_BUSY),
        (502, Outcome.VENDOR_BUSY, Outcome.VENDOR_BUSY),
        (503, Outcome.VENDOR_BUSY, Outcome.VENDOR_BUSY),
        (504, Outcome.VENDOR_BUSY, Outcome.VENDOR_BUSY),
        (599, Outcome.VENDOR_BUSY, Outcome.VENDOR_BUSY),
        # A redirect we do not follow; after a POST (303) the vendor may have acted.
        (303, Outcome.AMBIGUOUS, Outcome.VENDOR_BUSY),
    ],
)
def test_the_table(status: int, send: Outcome | None, query: Outcome | None) -> None:
    for side_effect, expected in ((True, send), (False, query)):
        verdict = classify_status(status, side_effect=side_effect)
        if expected is None:
            assert verdict is None
        else:
            malformed = 300 <= status < 400
            assert verdict == StatusVerdict(expected, f"http_{status}", malformed)


def adapter(case: VendorCase) -> Adapter:
    return make_adapter(case.settings("http://127.0.0.1:1"))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_adapter_reads_no_body_outside_2xx(case: VendorCase) -> None:
    a = adapter(case)
    prepared = a.build_send(Chunk(("13900000001",), "hello", 7), 0)
    # A body that would parse as an acceptance, were it read.
    for status in (404, 429, 503):
        want = classify_status(status, side_effect=True)
        assert want is not None
        result = a.parse_send(prepared, HttpResponse(status, b"0"))
        assert (result.outcome, result.raw_code, result.malformed) == want


# Each vendor's acceptance of a send, as its document shows it.
ACCEPTANCES = {
    "esms100": b"0",
    "smscn": "sms&stat=100&message=发送成功".encode("gbk"),
    "c123": b'<xml name="sendOnce" result="1"><Item cid="1" sid="1" msgid="362"/></xml>',
    "chuanglan": b"20110725160412,0\n1234567890100",
    "sms10000": b'{"result":"1"}',
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_any_2xx_is_read_like_a_200(case: VendorCase) -> None:
    a = adapter(case)
    prepared = a.build_send(Chunk(("13900000001",), "hello", 7), 0)
    for status in (200, 202):
        result = a.parse_send(prepared, HttpResponse(status, ACCEPTANCES[case.kind]))
        assert (result.outcome, result.malformed) == (Outcome.ACCEPTED, False), result
