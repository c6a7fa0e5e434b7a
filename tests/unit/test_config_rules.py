"""Bad rules are refused at start-up, with the option named."""

from __future__ import annotations

from typing import Any

import pytest

from config.loader import ConfigError, settings_from


def vendor(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "esms100",
        "name": name,
        "base_url": "http://127.0.0.1:1",
        "price_per_segment": 0.05,
        "cpid": "1",
        "password": "p",
        **extra,
    }


def config(rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "clients": [{"cpid": "acme", "password": "x"}],
        "vendors": [vendor("a"), vendor("b"), vendor("off", enabled=False)],
        "rules": rules,
        **extra,
    }


def error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        settings_from(data, "rules.toml")
    return str(info.value)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"name": "r", "vendors": ["a", "zz"]}], "rules[0].vendors: unknown vendor 'zz'"),
        ([{"name": "r", "vendors": []}], "rules[0].vendors: List should have at least 1 item"),
        (
            [{"name": "r", "vendors": ["off"]}],
            "rules[0].vendors: every vendor of this rule is disabled",
        ),
        ([{"name": "r", "vendors": ["a", "a"]}], "a vendor is listed twice"),
        (
            [
                {"name": "all", "vendors": ["a"]},
                {"name": "late", "vendors": ["b"], "match": {"clients": ["acme"]}},
            ],
            "rules[1]: rule 'late' can never match: the catch-all rule 'all' before it",
        ),
        (
            [
                {"name": "x", "vendors": ["a"], "match": {"prefixes": ["138"]}},
                {"name": "y", "vendors": ["b"], "match": {"prefixes": ["138"]}},
            ],
            "rules[1]: rule 'y' matches exactly what rule 'x' matches",
        ),
        (
            [{"name": "x", "vendors": ["a"]}, {"name": "x", "vendors": ["b"]}],
            "rules[1].name: the name 'x' is used twice",
        ),
        (
            [{"name": "w", "vendors": ["a", "b"], "strategy": "weighted", "weights": {"a": 1}}],
            "weighted strategy needs weights for b",
        ),
        (
            [{"name": "w", "vendors": ["a"], "weights": {"b": 1}}],
            "weights name vendors not in this rule: b",
        ),
        ([{"name": "h", "vendors": ["a"], "match": {"hours": "8-21"}}], "rules[0].match.hours:"),
        (
            [{"name": "p", "vendors": ["a"], "match": {"prefixes": ["13x"]}}],
            "rules[0].match.prefixes:",
        ),
        (
            [{"name": "c", "vendors": ["a"], "match": {"clients": ["nobody"]}}],
            "rules[0].match.clients: unknown client 'nobody'",
        ),
        (
            [{"name": "n", "vendors": ["a"], "match": {"min_recipients": 5, "max_recipients": 2}}],
            "min_recipients is larger than max_recipients",
        ),
        ([{"name": "s", "vendors": ["a"], "strategy": "fastest"}], "rules[0].strategy:"),
        (
            [{"name": "k", "vendors": ["a"], "match": {"carriers": ["cmcc"]}}],
            "rules[0].match.carriers[0]:",
        ),
    ],
)
def test_bad_rules(rules: list[dict[str, Any]], message: str) -> None:
    text = error(config(rules))
    assert message in text
    assert text.startswith("rules.toml:")


def test_signature_add_needs_its_text() -> None:
    data = config([])
    data["vendors"][0]["signature"] = "add"
    assert 'vendors[0]: Value error, signature = "add" needs signature_text' in error(data)


def test_unknown_time_zone_and_class_client() -> None:
    assert "routing.timezone: Value error, unknown time zone 'Mars/Base'" in error(
        config([], routing={"timezone": "Mars/Base"})
    )
    assert "classes.by_client: unknown client 'zz'" in error(
        config([], classes={"by_client": {"zz": "marketing"}})
    )


def test_implicit_catch_all_takes_enabled_vendors_cheapest_first() -> None:
    settings = settings_from(
        config([{"name": "acme", "vendors": ["b"], "match": {"clients": ["acme"]}}]), "t"
    )
    rules = settings.effective_rules()
    assert [(r.name, r.vendors, r.strategy) for r in rules] == [
        ("acme", ["b"], "cheapest"),
        ("default", ["a", "b"], "cheapest"),
    ]
