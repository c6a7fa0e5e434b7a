"""Config is validated once, and every error names the file and the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import ConfigError, load_settings
from proxy.cli import main

EXAMPLE = Path(__file__).parents[2] / "config" / "example.toml"

VENDOR = """
[[vendors]]
kind = "esms100"
name = "e1"
base_url = "http://127.0.0.1:1"
price_per_segment = 0.05
cpid = "1"
password = "vendor-secret-xyz"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return str(info.value)


def test_example_config_passes_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "change-me" not in out
    for kind in ("esms100", "smscn", "c123", "chuanglan", "sms10000"):
        assert f": {kind} at " in out


def test_unknown_keys_are_refused_everywhere(tmp_path: Path) -> None:
    text = error_of(
        write(tmp_path, "colour = 1\n[listen]\nlegasy = '1:2'\n" + VENDOR + "extra = 1\n")
    )
    assert f"{tmp_path / 'c.toml'}: colour: unknown option" in text
    assert "listen.legasy: unknown option" in text
    assert "vendors[0].extra: unknown option" in text


def test_missing_and_wrong_values_name_the_option(tmp_path: Path) -> None:
    text = error_of(
        write(
            tmp_path,
            "[[clients]]\ncpid = 'a'\n[[clients]]\ncpid = 'b'\n"
            "password = 'x'\nrate_per_s = -1\n"
            + VENDOR.replace("price_per_segment = 0.05", "price_per_segment = 'cheap'"),
        )
    )
    assert "clients[0].password: required option is missing" in text
    assert "clients[1].rate_per_s:" in text
    assert "vendors[0].price_per_segment:" in text
    assert "vendor-secret-xyz" not in text


def test_unknown_vendor_kind(tmp_path: Path) -> None:
    text = error_of(write(tmp_path, VENDOR.replace('kind = "esms100"', 'kind = "twilio"')))
    assert "vendors[0]:" in text and "twilio" in text


def test_duplicate_names(tmp_path: Path) -> None:
    text = error_of(write(tmp_path, VENDOR + VENDOR))
    assert "vendors: the name 'e1' is used twice" in text


def test_not_toml(tmp_path: Path) -> None:
    assert "not valid TOML" in error_of(write(tmp_path, "[listen\n"))
    assert "cannot read" in error_of(tmp_path / "missing.toml")


def test_secrets_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, VENDOR.replace('"vendor-secret-xyz"', '{ env = "E1_PASSWORD" }'))
    assert "vendors[0].password: Value error, environment variable E1_PASSWORD is not set" in (
        error_of(path)
    )
    monkeypatch.setenv("E1_PASSWORD", "from-env")
    settings = load_settings(path)
    assert settings.vendors[0].password.get_secret_value() == "from-env"  # type: ignore[attr-defined]
    assert "from-env" not in repr(settings)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSPROXY_LISTEN__LEGACY", "127.0.0.1:18080")
    settings = load_settings(write(tmp_path, "[listen]\nlegacy = '0.0.0.0:8080'\n"))
    assert settings.listen.legacy == "127.0.0.1:18080"


def test_check_config_reports_errors_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(write(tmp_path, "colour = 1\n"))]) == 2
    assert "colour: unknown option" in capsys.readouterr().err


def test_unresolved_recipients_do_not_expire_before_a_send_ends(tmp_path: Path) -> None:
    routing = "[routing]\nsend_deadline_s = 20\nunresolved_expire_s = 5\n"
    text = error_of(write(tmp_path, routing + VENDOR))
    assert "routing" in text and "unresolved_expire_s (5) must be at least send_deadline_s" in text
