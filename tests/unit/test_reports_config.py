"""The [reports] section and the push port: defaults, and errors that name the option."""

from __future__ import annotations

import pytest

from config.loader import ConfigError, settings_from

CLIENT = {"cpid": "acme", "password": "x"}


def test_defaults() -> None:
    settings = settings_from({}, "(test)")
    assert settings.listen.push == "127.0.0.1:9200"
    r = settings.reports
    assert (r.default_client, r.retention_days, r.unmatched_retry_s, r.reply_part_wait_s) == (
        None,
        7.0,
        60.0,
        60.0,
    )
    assert r.poll_interval_override_s is None


def test_default_client_must_be_a_client() -> None:
    ok = settings_from({"clients": [CLIENT], "reports": {"default_client": "acme"}}, "(t)")
    assert ok.reports.default_client == "acme"
    with pytest.raises(ConfigError) as info:
        settings_from({"clients": [CLIENT], "reports": {"default_client": "nobody"}}, "(t)")
    assert "reports.default_client: unknown client 'nobody'" in str(info.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("retention_days", 0),
        ("unmatched_retry_s", -1),
        ("reply_part_wait_s", "soon"),
        ("poll_interval_override_s", 0),
        ("colour", "red"),
    ],
)
def test_bad_values_name_the_option(option: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from({"reports": {option: value}}, "(t)")
    assert f"(t): reports.{option}:" in str(info.value)


def test_bad_push_address() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from({"listen": {"push": "nine-two-hundred"}}, "(t)")
    assert "(t): listen.push:" in str(info.value)
