"""Inbox rows and their de-duplication keys."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.base import DeliveryStatus, Reply, ReplyPart, Report
from adapters.smscn.adapter import SmscnAdapter
from config.vendor_kinds import SmscnSettings
from core.send import HttpRequest, HttpResponse
from proxy.ingest.inbox import reply_rows, report_rows

NOW = 1_700_000_000_000
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_report_keys_with_a_message_id() -> None:
    reports = [
        Report("13800138000", DeliveryStatus.DELIVERED, "DELIVRD", "m1"),
        Report("+8613800138000", DeliveryStatus.DELIVERED, "DELIVRD", "m1", WHEN),
        Report("13800138000", DeliveryStatus.FAILED, "UNDELIV", "m1"),
    ]
    rows = report_rows("v", reports, NOW)
    assert [r.key for r in rows] == [
        "id|m1|13800138000|DELIVRD",
        "id|m1|13800138000|DELIVRD",  # the same report: normalised number, time ignored
        "id|m1|13800138000|UNDELIV",
    ]
    assert rows[1].phone == "13800138000" and rows[1].reported_ms == int(WHEN.timestamp() * 1000)
    assert (rows[2].status, rows[2].raw_status, rows[2].received_ms) == (2, "UNDELIV", NOW)


def test_report_keys_without_one_count_repeats_within_a_batch() -> None:
    line = Report("13800138000", DeliveryStatus.DELIVERED, "1", None, WHEN)
    other = Report("13900139000", DeliveryStatus.DELIVERED, "1", None, WHEN)
    keys = [r.key for r in report_rows("v", [line, other, line], NOW)]
    ms = int(WHEN.timestamp() * 1000)
    assert keys == [f"t|13800138000|{ms}|1|0", f"t|13900139000|{ms}|1|0", f"t|13800138000|{ms}|1|1"]
    # A later batch starts counting again: the same line there is the same report.
    assert report_rows("v", [line], NOW)[0].key == keys[0]


def test_reply_keys() -> None:
    a = Reply("13800138000", "好", WHEN)
    b = Reply("13800138000", "好", WHEN, part=ReplyPart("r", 2, 1))
    c = Reply("13800138000", "好", message_id="9")
    d = Reply("13800138000", "不", message_id="9")  # the document's msgId is not unique
    rows = reply_rows("v", [a, a, b, c, d], NOW)
    keys = [r.key for r in rows]
    assert keys[0].startswith("h|") and keys[0].endswith("|0") and keys[1].endswith("|1")
    assert keys[0][:-2] == keys[1][:-2]
    assert len(set(keys)) == 5
    assert reply_rows("v", [c], NOW + 1)[0].key == keys[3]
    assert (rows[2].part_ref, rows[2].part_total, rows[2].part_index) == ("r", 2, 1)
    assert rows[0].sent_ms == int(WHEN.timestamp() * 1000) and rows[3].sent_ms is None


def test_an_smscn_reply_pushed_and_polled_is_one_reply() -> None:
    # sms.cn pushes a reply (6.2: time, mobile, content; no gateway number)
    # and may list it on /rx/ too, with the number replied to.
    smscn = SmscnAdapter(
        SmscnSettings(
            kind="smscn",
            name="smscn",
            base_url="http://api.sms.cn",  # type: ignore[arg-type]
            price_per_segment=0.04,
            uid="test",
            password="123123",
        )
    )
    push = "cmd=res&uid=test&time=2008-05-27+12%3A10%3A11&mobile=13912341234&content=%B6%CC%D0%C5"
    pushed = smscn.parse_push(HttpRequest("GET", "/push/smscn", query=push)).replies
    listing = "100{&}13912341234||短信||2008-05-27 12:10:11||1068112227282".encode("gbk")
    polled = smscn.parse_poll(smscn.build_reply_poll(0), HttpResponse(200, listing)).replies
    assert [r.text for r in pushed] == [r.text for r in polled] == ["短信"]
    assert polled[0].dest == "1068112227282" and pushed[0].dest == ""
    assert reply_rows("smscn", pushed, NOW)[0].key == reply_rows("smscn", polled, NOW)[0].key
