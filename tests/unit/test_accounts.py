"""Vendor entries that are one account share a poller and their reports."""

from __future__ import annotations

from typing import Any

from config.loader import settings_from
from proxy.ingest.accounts import AccountBook


def vendor(name: str, kind: str = "esms100", **extra: Any) -> dict[str, Any]:
    base = {
        "kind": kind,
        "name": name,
        "base_url": "http://api.example.com",
        "price_per_segment": 0.05,
    }
    creds = {
        "esms100": {"cpid": "1", "password": "p"},
        "sms10000": {"epr_id": 1, "user_id": "u", "password": "p"},
        "c123": {"ac": "1001@500008880001", "authkey": "k", "cgid": "80"},
    }[kind]
    return {**base, **creds, **extra}


def book(*vendors: dict[str, Any]) -> AccountBook:
    return AccountBook(settings_from({"vendors": list(vendors)}, "(test)").vendors)


def test_same_account_at_two_prices_is_one() -> None:
    accounts = book(
        vendor("a"),
        vendor("b", price_per_segment=0.09, password="stale", enabled=False),
        vendor("c", cpid="2"),
        vendor("d", base_url="http://other.example.com"),
    )
    assert [(a.name, a.vendors, a.enabled) for a in accounts.accounts] == [
        ("a", ("a", "b"), ("a",)),
        ("c", ("c",), ("c",)),
        ("d", ("d",), ("d",)),
    ]
    assert accounts.of_vendor("b") is accounts.named("a")
    assert accounts.named("b") is None and accounts.of_vendor("zz") is None


def test_identity_fields_per_kind() -> None:
    accounts = book(
        vendor("s1", "sms10000"),
        vendor("s2", "sms10000", user_id="other"),
        vendor("c1", "c123"),
        vendor("c2", "c123", cgid="81", csid="7"),  # another channel group, same account
    )
    assert [a.vendors for a in accounts.accounts] == [("s1",), ("s2",), ("c1", "c2")]
