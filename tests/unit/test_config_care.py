"""Secrets in the config: never echoed, and a warning when others may read them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import ConfigError, exposed_secrets, load_settings

ROOT = Path(__file__).parents[2]
PASSWORD = "s3cret-in-url"

CONFIG = """
[admin]
token = { env = "ADMIN_TOKEN_FOR_TEST" }

[[clients]]
cpid = "acme"
password = "client-literal"

[[clients]]
cpid = "beta"
password = { env = "BETA_PASSWORD_FOR_TEST" }

[[vendors]]
kind = "esms100"
name = "e1"
base_url = "http://127.0.0.1:1"
price_per_segment = 0.05
cpid = "1"
password = "vendor-literal"
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "proxy.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{PASSWORD}@127.0.0.1:1",
        f"https://:{PASSWORD}@sms.example.com/api",
        "http://just-a-user@127.0.0.1:1",
    ],
)
def test_a_base_url_with_user_info_is_refused_without_echoing_it(tmp_path: Path, url: str) -> None:
    path = tmp_path / "c.toml"
    vendor = CONFIG[CONFIG.index("[[vendors]]") :]
    path.write_text(vendor.replace("http://127.0.0.1:1", url), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "vendors[0].base_url: Value error, must not carry a user name or password" in str(
        info.value
    )
    for command in (["check-config", str(path)], ["run", "--config", str(path)]):
        done = cli(*command)
        assert done.returncode == 2, done
        assert "vendors[0].base_url" in done.stderr
        for leak in (PASSWORD, "just-a-user", "Traceback"):
            assert leak not in done.stderr + done.stdout, command


def test_secrets_written_in_a_file_others_may_read_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_TOKEN_FOR_TEST", "t0ken-from-env")
    monkeypatch.setenv("BETA_PASSWORD_FOR_TEST", "beta-from-env")
    path = tmp_path / "c.toml"
    path.write_text(CONFIG, encoding="utf-8")
    settings = load_settings(path)
    for mode in (0o644, 0o640, 0o604):
        os.chmod(path, mode)
        assert exposed_secrets(path, settings) == ["clients[0].password", "vendors[0].password"]
    os.chmod(path, 0o600)
    assert exposed_secrets(path, settings) == []
    # Only secrets from the environment: nothing to warn of, whoever may read it.
    path.write_text(
        CONFIG.replace('"client-literal"', '{ env = "BETA_PASSWORD_FOR_TEST" }').replace(
            '"vendor-literal"', '{ env = "BETA_PASSWORD_FOR_TEST" }'
        ),
        encoding="utf-8",
    )
    os.chmod(path, 0o644)
    assert exposed_secrets(path, load_settings(path)) == []
