"""Who may push: the push gate, sans-io, and the settings it reads."""

from __future__ import annotations

import tomllib
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from adapters.base import PushResult
from adapters.chuanglan.adapter import ChuanglanAdapter
from adapters.registry import make_adapter
from adapters.sms10000.adapter import Sms10000Adapter
from adapters.smscn.adapter import SmscnAdapter
from config.loader import ConfigError, load_settings, settings_from
from config.settings import split_host_port
from config.vendor import VendorSettings
from config.vendor_kinds import ChuanglanSettings, Sms10000Settings, SmscnSettings
from core.send import HttpResponse
from proxy.ingest.push_auth import PushGate, PushRefusal, unprotected, warn_unprotected

EXAMPLE = Path(__file__).parents[2] / "config" / "example.toml"
TOKEN = "pV3q8_Yk-2rTzW9mXa1bC4dE"
COMMON: dict[str, Any] = {"base_url": "http://127.0.0.1:1", "price_per_segment": 0.05}


def sms10000(**extra: Any) -> Sms10000Settings:
    return Sms10000Settings.model_validate(
        {"kind": "sms10000", "name": "s1", "epr_id": 1, "user_id": "u", "password": "p"}
        | COMMON
        | extra
    )


def smscn(**extra: Any) -> SmscnSettings:
    return SmscnSettings.model_validate(
        {"kind": "smscn", "name": "cn", "uid": "test", "password": "p"} | COMMON | extra
    )


def chuanglan(**extra: Any) -> ChuanglanSettings:
    return ChuanglanSettings.model_validate(
        {"kind": "chuanglan", "name": "cl", "account": "a", "password": "p"} | COMMON | extra
    )


def gate(settings: VendorSettings) -> PushGate:
    found = PushGate.of(settings, make_adapter(settings))
    assert found is not None
    return found


def reason(settings: VendorSettings, token: str | None, remote: str) -> PushRefusal | None:
    refused = gate(settings).admit(token, remote)
    return None if refused is None else refused.reason


@pytest.mark.parametrize(
    "make", [sms10000, smscn, chuanglan], ids=["sms10000", "smscn", "chuanglan"]
)
def test_a_vendor_without_a_secret_is_refused_until_one_is_configured(make: Any) -> None:
    # sms10000's eprId/userId and sms.cn's uid are account names; chuanglan
    # without report_password pushes nothing secret either.
    settings = make()
    assert unprotected([settings]) == [settings]
    assert reason(settings, None, "127.0.0.1") is PushRefusal.UNCONFIGURED
    assert reason(make(push_token=TOKEN), TOKEN, "127.0.0.1") is None
    assert reason(make(push_allowed_ips=["127.0.0.1"]), None, "127.0.0.1") is None


def test_chuanglan_with_a_push_password_needs_nothing_more() -> None:
    settings = chuanglan(report_receiver="r", report_password="s3cret")
    assert unprotected([settings]) == []
    assert reason(settings, None, "198.51.100.7") is None
    # An empty password is what the document calls "may be empty": no secret.
    assert unprotected([chuanglan(report_password="")]) != []


def test_kinds_that_push_nothing_have_no_gate() -> None:
    entry = {"kind": "esms100", "name": "e", "cpid": "1", "password": "x"} | COMMON
    settings = settings_from({"vendors": [entry]}, "(test)").vendors[0]
    assert PushGate.of(settings, make_adapter(settings)) is None
    assert unprotected([settings]) == []


def test_the_token_is_compared_whole() -> None:
    settings = sms10000(push_token=TOKEN)
    assert reason(settings, TOKEN, "203.0.113.9") is None
    for wrong in (None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "é" * 24):
        assert reason(settings, wrong, "203.0.113.9") is PushRefusal.TOKEN, wrong


def test_a_token_where_none_is_configured_is_refused() -> None:
    settings = sms10000(push_allowed_ips=["127.0.0.1"])
    assert reason(settings, "anything-at-all-here", "127.0.0.1") is PushRefusal.TOKEN


def test_the_address_list() -> None:
    settings = smscn(push_allowed_ips=["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"])
    for ok in ("203.0.113.1", "203.0.113.254", "2001:db8::1", "198.51.100.7"):
        assert reason(settings, None, ok) is None, ok
    # A dual-stack socket names an IPv4 peer as IPv4-mapped IPv6.
    assert reason(settings, None, "::ffff:203.0.113.5") is None
    for bad in ("203.0.114.1", "198.51.100.8", "2001:db9::1", "", "unix", "127.0.0.1"):
        assert reason(settings, None, bad) is PushRefusal.ADDRESS, bad


def test_address_and_token_both_hold_when_both_are_set() -> None:
    settings = smscn(push_allowed_ips=["203.0.113.0/24"], push_token=TOKEN)
    assert reason(settings, TOKEN, "203.0.113.1") is None
    assert reason(settings, TOKEN, "192.0.2.1") is PushRefusal.ADDRESS
    assert reason(settings, None, "203.0.113.1") is PushRefusal.TOKEN


def test_refusals_carry_the_vendors_own_failure_answer() -> None:
    cases = [
        (sms10000(), Sms10000Adapter.push_refused, HttpResponse(403, b"FAIL", "text/plain")),
        (smscn(), SmscnAdapter.push_refused, HttpResponse(403, b"101", "text/plain")),
        (chuanglan(), ChuanglanAdapter.push_refused, HttpResponse(403, b"forbidden", "text/plain")),
    ]
    for settings, refusal, expected in cases:
        refused = gate(settings).admit(None, "127.0.0.1")
        assert refused is not None and refused.answer == refusal == expected


def test_what_the_adapter_refused_is_account_or_malformed() -> None:
    g = gate(sms10000(push_token=TOKEN))
    ok = PushResult(answer=HttpResponse(200, b"SUCCESS"))
    assert g.judge(ok) is None
    for status, expected in ((403, PushRefusal.ACCOUNT), (401, PushRefusal.ACCOUNT)):
        refused = g.judge(PushResult(answer=HttpResponse(status, b"FAIL"), accepted=False))
        assert refused is not None and refused.reason is expected
    refused = g.judge(PushResult(answer=HttpResponse(400, b"FAIL"), accepted=False))
    assert refused is not None and refused.reason is PushRefusal.MALFORMED
    assert refused.answer == HttpResponse(400, b"FAIL")


def test_unprotected_vendors_are_named_once_with_what_to_set() -> None:
    vendors = [sms10000(), smscn(push_token=TOKEN), chuanglan()]
    with capture_logs() as logs:
        warn_unprotected(vendors)
    assert [(e["event"], e["vendor"]) for e in logs] == [
        ("push_unprotected", "s1"),
        ("push_unprotected", "cl"),
    ]
    assert logs[0]["set"] == "push_token or push_allowed_ips"
    assert logs[1]["set"] == "push_token or push_allowed_ips or report_password"


# --- the settings --------------------------------------------------------------------------


def test_allowed_ips_take_addresses_and_networks() -> None:
    settings = sms10000(push_allowed_ips=["10.1.2.3", "10.0.0.5/8", "::1"])
    assert [str(n) for n in settings.push_allowed_ips] == ["10.1.2.3/32", "10.0.0.0/8", "::1/128"]
    assert ip_address("10.9.9.9") in settings.push_allowed_ips[1]
    with pytest.raises(ValidationError):
        sms10000(push_allowed_ips=["not-an-address"])


@pytest.mark.parametrize(
    "token", ["Zq9short", "Zq9 has a space 1234", "Zq9/slash/inside/it", "Zq9" + "é" * 20]
)
def test_a_token_that_is_short_or_not_url_safe_is_refused_unechoed(
    tmp_path: Path, token: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[[vendors]]\nkind = 'smscn'\nname = 'cn'\nbase_url = 'http://127.0.0.1:1'\n"
        f"price_per_segment = 0.05\nuid = 'u'\npassword = 'p'\npush_token = '{token}'\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "vendors[0].push_token" in str(info.value) and token not in str(info.value)


def test_the_example_config_keeps_the_push_port_closed_and_every_vendor_protected() -> None:
    settings = load_settings(EXAMPLE)
    host, _ = split_host_port(settings.listen.push)
    assert host in ("127.0.0.1", "::1"), "a push port open to all is open to forgers"
    assert unprotected(settings.vendors) == []
    pushing = {v.name for v in settings.vendors if v.pushes}
    assert pushing == {"smscn", "chuanglan", "sms10000"}
    # The token path is shown, as it is registered with the vendor.
    assert "/push/<name>/<token>" in EXAMPLE.read_text(encoding="utf-8")
    assert tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["listen"]["push"] != "0.0.0.0:9200"
