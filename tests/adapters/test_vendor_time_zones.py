"""Vendor times are read in the vendor's ``timezone``, never the host's.

Every test here runs with this process in New York (``TZ`` and
``time.tzset``), so a time read or written in the host's zone would show.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.base import Adapter
from adapters.c123 import wire as c123_wire
from adapters.chuanglan import wire as chuanglan_wire
from adapters.esms100 import wire as esms100_wire
from adapters.registry import make_adapter
from adapters.simulators import VENDOR_KINDS, kind_of
from adapters.smscn import wire as smscn_wire
from config.loader import ConfigError, settings_from
from core.send import HttpRequest, HttpResponse
from proxy.ingest.inbox import to_ms

CHINA = ZoneInfo("Asia/Shanghai")
# 2024-01-02 03:04:05 on a clock in China.
CHINA_WALL = datetime(2024, 1, 2, 3, 4, 5, tzinfo=CHINA)
INSTANT = datetime(2024, 1, 1, 19, 4, 5, tzinfo=UTC)
CREDENTIALS: dict[str, dict[str, Any]] = {
    "esms100": {"cpid": "10000", "password": "secret"},
    "smscn": {"uid": "test", "password": "123123"},
    "chuanglan": {"account": "test01", "password": "123456"},
    "c123": {"ac": "1001@500008880001", "authkey": "K", "cgid": "80"},
    "sms10000": {"epr_id": 1, "user_id": "u", "password": "p"},
}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def host_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def vendor(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": kind,
        "base_url": "http://127.0.0.1:1",
        "price_per_segment": 0.05,
        **CREDENTIALS[kind],
        **extra,
    }


def adapter(kind: str, **extra: Any) -> Adapter:
    return make_adapter(kind_of(kind).settings.model_validate(vendor(kind, **extra)))


def poll(a: Adapter, which: str, body: bytes) -> Any:
    request = a.build_report_poll(0) if which == "reports" else a.build_reply_poll(0)
    assert request is not None
    return a.parse_poll(request, HttpResponse(200, body))


def push(a: Adapter, query: str) -> Any:
    return a.parse_push(HttpRequest("GET", "/push", query, b"", FORM))


# --- each vendor's times, read in its zone ----------------------------------------------


@pytest.mark.parametrize(
    ("zone", "instant"), [(None, INSTANT), ("UTC", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))]
)
def test_esms100_reports_and_replies(zone: str | None, instant: datetime) -> None:
    # No zone configured: China.  A vendor clock set to UTC: the same wall is 8 hours later.
    a = adapter("esms100", **({"timezone": zone} if zone else {}))
    [report] = poll(a, "reports", b"1\n2024-01-02 03:04:05||13800138000||1").reports
    assert report.time == instant and report.time.utcoffset() is not None
    [reply] = poll(a, "replies", "1\n2024-01-02 03:04##13800138000##好".encode("gbk")).replies
    assert reply.time == instant.replace(second=0)


def test_smscn_polls_and_reply_push() -> None:
    a = adapter("smscn")
    body = b"13800138000,DELIVRD,1380013800017000000001230000, 2024-01-02 03:04:05"
    assert [r.time for r in poll(a, "reports", body).reports] == [INSTANT]
    replies = "100{&}13800138000||好||2024-01-02 03:04:05||1068".encode("gbk")
    assert [r.time for r in poll(a, "replies", replies).replies] == [INSTANT]
    pushed = push(a, "cmd=res&uid=test&mobile=13800138000&content=ok&time=2024-01-02+03:04:05")
    assert [r.time for r in pushed.replies] == [INSTANT]
    new_york = adapter("smscn", timezone="America/New_York")
    assert [r.time for r in poll(new_york, "reports", body).reports] == [
        datetime(2024, 1, 2, 8, 4, 5, tzinfo=UTC)
    ]


def test_chuanglan_pushes() -> None:
    a = adapter("chuanglan")
    report = push(a, "msgid=1&reportTime=2401020304&mobile=13800138000&status=DELIVRD")
    assert [r.time for r in report.reports] == [INSTANT.replace(second=0)]
    reply = push(a, "moTime=2401020304&mobile=13800138000&msg=ok")
    assert [r.time for r in reply.replies] == [INSTANT.replace(second=0)]


def test_c123_reply_times_are_shown_in_its_zone() -> None:
    # An epoch time is one instant anywhere; the zone is how it is shown.
    ms = str(int(INSTANT.timestamp() * 1000))
    item = {"id": "1", "time": ms, "mobile": "13800138000", "content": "x"}
    body = c123_wire.encode_answer("getReply", 1, [item])
    for zone, wall in (("Asia/Shanghai", "2024-01-02 03:04"), ("UTC", "2024-01-01 19:04")):
        [reply] = poll(adapter("c123", timezone=zone), "replies", body).replies
        assert reply.time == INSTANT and reply.time.strftime("%Y-%m-%d %H:%M") == wall


@pytest.mark.parametrize("kind", [vk.kind for vk in VENDOR_KINDS])
def test_every_vendor_has_a_zone_default_china(kind: str) -> None:
    assert kind_of(kind).settings.model_validate(vendor(kind)).timezone == "Asia/Shanghai"


# --- writing: the reader's zone, and no naive times -------------------------------------


def test_codecs_write_the_readers_wall_clock() -> None:
    line = esms100_wire.ReportLine(INSTANT, "13800138000", 1)
    assert esms100_wire.encode_reports([line], CHINA) == b"1\n2024-01-02 03:04:05||13800138000||1"
    assert esms100_wire.encode_reports([line], UTC) == b"1\n2024-01-01 19:04:05||13800138000||1"
    record = esms100_wire.ReplyRecord(INSTANT, "13800138000", "ok")
    assert esms100_wire.encode_replies([record], CHINA) == b"1\n2024-01-02 03:04##13800138000##ok"
    assert smscn_wire.format_time(INSTANT, CHINA) == "2024-01-02 03:04:05"
    assert chuanglan_wire.format_push_time(INSTANT, CHINA) == "2401020304"
    assert chuanglan_wire.format_resptime(INSTANT, CHINA) == "20240102030405"
    assert c123_wire.format_epoch_ms(CHINA_WALL) == str(int(INSTANT.timestamp() * 1000))


def test_a_naive_time_is_refused_not_read_in_the_hosts_zone() -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5)
    with pytest.raises(ValueError, match="naive"):
        esms100_wire.format_report_time(naive, CHINA)
    with pytest.raises(ValueError, match="zone"):
        to_ms(naive)
    assert to_ms(CHINA_WALL) == int(INSTANT.timestamp() * 1000)


def test_simulators_keep_china_time_on_any_host() -> None:
    sim = kind_of("esms100").simulator()
    now = sim.now()
    assert now.utcoffset() == CHINA.utcoffset(now)
    assert abs(now.timestamp() - time.time()) < 2


# --- the options ---------------------------------------------------------------------------


def test_zones_are_checked_where_they_are_configured() -> None:
    base: dict[str, Any] = {"vendors": [vendor("esms100", timezone="Mars/Base")]}
    with pytest.raises(
        ConfigError, match=r"vendors\[0\]\.timezone: .*unknown time zone 'Mars/Base'"
    ):
        settings_from(base, "tz.toml")
    with pytest.raises(ConfigError, match=r"legacy\.timezone.*unknown time zone 'Moon/Base'"):
        settings_from({"legacy": {"timezone": "Moon/Base"}}, "tz.toml")
    settings = settings_from({"legacy": {"timezone": "UTC"}}, "tz.toml")
    assert (settings.legacy.timezone, settings_from({}, "tz.toml").legacy.timezone) == (
        "UTC",
        "Asia/Shanghai",
    )
