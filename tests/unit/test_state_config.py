"""[state]: the engine, and a Redis URL that is a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import ConfigError, load_settings, settings_from
from proxy.cli import main
from proxy.ingest.lease import name_of, new_holder

REDIS = '[state]\nengine = "redis"\nredis_url = "redis://:hunter2@10.0.0.5:6379/0"\n'


def test_sqlite_is_the_default() -> None:
    state = settings_from({}, "(test)").state
    assert state.engine == "sqlite" and state.redis_url is None


def test_redis_needs_a_url_and_the_error_names_the_option() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from({"state": {"engine": "redis"}}, "c.toml")
    assert 'c.toml: state.redis_url: required when state.engine is "redis"' in str(info.value)


def test_a_bad_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from({"state": {"engine": "redis", "redis_url": "http://:hunter2@x"}}, "c")
    assert "state.redis_url: " in str(info.value) and "hunter2" not in str(info.value)


def test_the_url_never_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text(REDIS, encoding="utf-8")
    settings = load_settings(path)
    assert settings.state.redis_url is not None
    assert settings.state.redis_url.get_secret_value().startswith("redis://:hunter2@")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    # What the store is opened from: a traceback or a debug line may show it.
    assert "hunter2" not in repr(settings.state.redis_target())
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "state in redis at redis://10.0.0.5:6379/0, keys smsproxy:*" in out
    assert "hunter2" not in out


def test_the_url_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSPROXY_STATE__REDIS_URL", "redis://127.0.0.1:6390/1")
    state = settings_from({"state": {"engine": "redis"}}, "(test)").state
    assert state.redis_url is not None
    assert state.redis_url.get_secret_value() == "redis://127.0.0.1:6390/1"


def test_a_prefix_with_spaces_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"state\.redis_prefix"):
        settings_from({"state": {"redis_prefix": "my app:"}}, "(test)")


def test_a_daemon_name_is_one_word_and_each_process_adds_its_own_part() -> None:
    assert settings_from({}, "(test)").state.daemon_name is None
    named = settings_from({"state": {"daemon_name": "sms-1"}}, "(test)").state
    one, two = new_holder(named.daemon_name), new_holder(named.daemon_name)
    assert one != two and name_of(one) == name_of(two) == "sms-1"
    assert name_of(new_holder()).count(":") == 1  # host:pid
    with pytest.raises(ConfigError) as info:
        settings_from({"state": {"daemon_name": "sms 1"}}, "c.toml")
    assert "c.toml: state.daemon_name: " in str(info.value)
