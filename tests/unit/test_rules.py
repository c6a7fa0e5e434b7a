"""Rules: first match wins, per recipient; classes; carriers; signatures."""

from __future__ import annotations

import pytest

from config.rules import ClassesSettings, RuleMatch, RuleSettings
from routing.carriers import Carrier, carrier_of
from routing.rules import SendContext, assign, classify, matches
from routing.signature import text_for_vendor


def rule(name: str, **match: object) -> RuleSettings:
    return RuleSettings(name=name, match=RuleMatch(**match), vendors=["v"])  # type: ignore[arg-type]


def ctx(cpid: str = "c1", cls: str = "notice", minute: int = 600, n: int = 1) -> SendContext:
    return SendContext(cpid, cls, minute, n)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("phone", "carrier"),
    [
        ("13800138000", Carrier.MOBILE),
        ("13012345678", Carrier.UNICOM),
        ("18912345678", Carrier.TELECOM),
        ("13490000000", Carrier.TELECOM),
        ("13400000000", Carrier.MOBILE),
        ("19212345678", Carrier.BROADNET),
        ("10012345678", Carrier.UNKNOWN),
    ],
)
def test_carrier_of(phone: str, carrier: Carrier) -> None:
    assert carrier_of(phone) is carrier


@pytest.mark.parametrize(
    ("text", "cpid", "expected"),
    [
        ("【ACME】您的验证码是 1234", "c1", "verification"),
        ("Your verification code is 1234", "c1", "verification"),
        ("双11大促销，回TD退订", "c1", "marketing"),
        ("您的快递已到", "c1", "notice"),
        ("您的验证码是 1234", "shop", "marketing"),
    ],
)
def test_classify(text: str, cpid: str, expected: str) -> None:
    classes = ClassesSettings(by_client={"shop": "marketing"})
    assert classify(text, cpid, classes) == expected


@pytest.mark.parametrize(
    ("match", "context", "phone", "expected"),
    [
        ({}, ctx(), "13800138000", True),
        ({"clients": ["c1"]}, ctx(), "13800138000", True),
        ({"clients": ["c2"]}, ctx(), "13800138000", False),
        ({"classes": ["verification"]}, ctx(cls="verification"), "13800138000", True),
        ({"classes": ["verification"]}, ctx(cls="marketing"), "13800138000", False),
        ({"prefixes": ["138", "1390"]}, ctx(), "13900138000", True),
        ({"prefixes": ["138", "1390"]}, ctx(), "13910138000", False),
        ({"carriers": ["unicom"]}, ctx(), "13012345678", True),
        ({"carriers": ["unicom"]}, ctx(), "13800138000", False),
        ({"hours": "08:00-21:00"}, ctx(minute=8 * 60), "13800138000", True),
        ({"hours": "08:00-21:00"}, ctx(minute=21 * 60), "13800138000", False),
        ({"hours": "22:00-06:00"}, ctx(minute=23 * 60), "13800138000", True),
        ({"hours": "22:00-06:00"}, ctx(minute=5 * 60), "13800138000", True),
        ({"hours": "22:00-06:00"}, ctx(minute=12 * 60), "13800138000", False),
        ({"min_recipients": 100}, ctx(n=99), "13800138000", False),
        ({"max_recipients": 100}, ctx(n=100), "13800138000", True),
    ],
)
def test_matches(
    match: dict[str, object], context: SendContext, phone: str, expected: bool
) -> None:
    assert matches(rule("r", **match), context, phone) is expected


def test_assign_splits_a_send_by_carrier_first_match_wins() -> None:
    rules = [
        rule("unicom", carriers=["unicom"]),
        rule("mobile-138", prefixes=["138"]),
        rule("mobile", carriers=["mobile"]),
        rule("rest"),
    ]
    phones = ["13800138000", "13012345678", "13900139000", "18912345678", "13812345678"]
    groups = assign(rules, ctx(n=len(phones)), phones)
    assert [(r.name, g) for r, g in groups] == [
        ("unicom", ["13012345678"]),
        ("mobile-138", ["13800138000", "13812345678"]),
        ("mobile", ["13900139000"]),
        ("rest", ["18912345678"]),
    ]


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("hello", "as_is", "hello"),
        ("hello", "add", "【ACME】hello"),
        ("【Other】hello", "add", "【Other】hello"),
        ("【Other】hello", "vendor", "hello"),
        ("hello", "vendor", "hello"),
        ("hello", "required", None),
        ("hello【ACME】", "required", "hello【ACME】"),
    ],
)
def test_signature(text: str, mode: str, expected: str | None) -> None:
    assert text_for_vendor(text, mode, "【ACME】") == expected
