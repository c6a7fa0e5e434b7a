"""Which proxy a vendor call takes: a vendor's proxy_url, the environment's, NO_PROXY."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from config.egress import EgressProxy, ProxyEnvironment, ProxyEnvironmentError, parse_proxy_url
from config.loader import ConfigError, settings_from
from config.settings import Settings
from proxy.cli import main

SECRET = "pr0xy-s3cret"


def settings(**vendor: Any) -> Settings:
    return settings_from(
        {
            "vendors": [
                {
                    "kind": "esms100",
                    "name": "e1",
                    "base_url": "https://api.vendor.example",
                    "price_per_segment": 0.05,
                    "cpid": "1",
                    "password": "vendor-pw",
                    **vendor,
                }
            ]
        },
        "(test)",
    )


def basic(pair: str) -> bytes:
    return b"Basic " + base64.b64encode(pair.encode())


def test_a_proxy_url_and_its_credentials() -> None:
    assert parse_proxy_url("http://egress.internal:3128") == EgressProxy("egress.internal", 3128)
    assert parse_proxy_url("HTTP://Egress.Internal") == EgressProxy("egress.internal", 80)
    assert parse_proxy_url("http://10.0.0.5:3128/") == EgressProxy("10.0.0.5", 3128)
    assert parse_proxy_url("http://[2001:db8::5]:3128") == EgressProxy("2001:db8::5", 3128)
    proxy = parse_proxy_url(f"http://smsproxy:{SECRET}@egress.internal:3128")
    assert proxy == EgressProxy("egress.internal", 3128, basic(f"smsproxy:{SECRET}"))
    # Escaped as URLs escape them; a user without a password has an empty one.
    assert parse_proxy_url("http://a%40b:p%3Aw@p:1").authorization == basic("a@b:p:w")
    assert parse_proxy_url("http://user@p:1").authorization == basic("user:")


def test_a_proxy_shows_its_address_never_its_credentials() -> None:
    proxy = parse_proxy_url(f"http://smsproxy:{SECRET}@egress.internal:3128")
    assert repr(proxy) == "<EgressProxy egress.internal:3128 with credentials>"
    assert proxy.address == "egress.internal:3128"
    assert EgressProxy("2001:db8::5", 3128).address == "[2001:db8::5]:3128"
    assert "s3cret" not in str(proxy) and "s3cret" not in repr(ProxyEnvironment(http=proxy))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"https://u:{SECRET}@p:3128", "an https:// proxy is not supported"),
        (f"socks5://u:{SECRET}@p:1080", "only http:// proxies are supported"),
        (f"u:{SECRET}@p:3128", "only http:// proxies are supported"),
        (f"http://u:{SECRET}@p:99999", "not a proxy URL"),
        (f"http://u:{SECRET}@:3128", "no proxy host"),
        (f"http://u:{SECRET}@p:3128/path", "no path or query"),
        (f"http://u:{SECRET}@p:3128?x=1", "no path or query"),
    ],
)
def test_a_wrong_proxy_url_names_the_option_and_never_shows_the_url(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(proxy_url=url)
    message = str(info.value)
    assert "vendors[0].proxy_url: " in message and says in message
    assert SECRET not in message and "u:" not in message


def test_a_vendors_proxy_url_is_a_secret_and_may_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EGRESS_PROXY_URL", f"http://smsproxy:{SECRET}@egress.internal:3128")
    vs = settings(proxy_url={"env": "EGRESS_PROXY_URL"}).vendors[0]
    assert vs.egress_proxy == EgressProxy("egress.internal", 3128, basic(f"smsproxy:{SECRET}"))
    assert SECRET not in repr(vs) and SECRET not in str(vs.model_dump())
    assert vs.use_env_proxy is True
    plain = settings().vendors[0]
    assert plain.egress_proxy is None and plain.proxy_url is None


def test_the_environments_proxies_lower_case_first() -> None:
    environment = ProxyEnvironment.from_environ(
        {
            "HTTP_PROXY": "http://upper:3128",
            "http_proxy": "http://lower:3128",
            "HTTPS_PROXY": "10.0.0.5:3128",  # no scheme: http://, as curl takes it
        }
    )
    assert environment.http == EgressProxy("lower", 3128)
    assert environment.https == EgressProxy("10.0.0.5", 3128)
    assert environment.proxy_for("http", "api.vendor.example", 80) == EgressProxy("lower", 3128)
    assert environment.proxy_for("https", "api.vendor.example", 443) == EgressProxy(
        "10.0.0.5", 3128
    )
    # An empty lower-case variable unsets the upper-case one.
    unset = ProxyEnvironment.from_environ({"HTTPS_PROXY": "http://p:1", "https_proxy": ""})
    assert unset.https is None
    assert ProxyEnvironment.from_environ({}) == ProxyEnvironment()


def test_a_proxy_variable_we_cannot_use_stops_the_start_naming_the_variable() -> None:
    with pytest.raises(ProxyEnvironmentError) as info:
        ProxyEnvironment.from_environ({"HTTPS_PROXY": f"https://u:{SECRET}@p:3128"})
    assert str(info.value).startswith("environment variable HTTPS_PROXY: an https:// proxy")
    assert SECRET not in str(info.value)
    with pytest.raises(ProxyEnvironmentError, match=r"^environment variable http_proxy: "):
        ProxyEnvironment.from_environ({"http_proxy": "socks5://p:1080"})


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("vendor.example", "vendor.example", 443, True),
        ("vendor.example", "api.vendor.example", 443, True),  # and every subdomain
        ("vendor.example", "evilvendor.example", 443, False),  # not a mere suffix
        (".vendor.example", "vendor.example", 443, True),  # a leading dot as urllib reads it
        ("*.vendor.example", "api.vendor.example", 443, True),
        ("VENDOR.example", "Api.Vendor.Example", 443, True),
        ("vendor.example:8443", "api.vendor.example", 8443, True),
        ("vendor.example:8443", "api.vendor.example", 443, False),  # another port
        ("*", "anything.example", 80, True),
        ("a.example, *", "anything.example", 80, True),
        ("10.0.0.0/8", "10.1.2.3", 80, True),  # a network
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("10.1.2.3", "10.1.2.3", 80, True),
        ("127.0.0.1", "localhost", 80, False),  # names are not resolved
        ("::1", "::1", 443, True),
        ("[::1]:8443", "::1", 8443, True),
        ("[::1]:8443", "::1", 443, False),
        ("2001:db8::/32", "2001:db8::7", 443, True),
        ("vendor.example.", "api.vendor.example.", 443, True),  # fully qualified
        ("[::1", "::1", 443, False),  # unclosed: matches nothing
        ("vendor.example:http", "vendor.example", 80, False),  # not a port: matches nothing
        (" , ,", "vendor.example", 80, False),
        ("", "vendor.example", 80, False),
    ],
)
def test_no_proxy(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    environment = ProxyEnvironment.from_environ({"HTTPS_PROXY": "p:1", "NO_PROXY": no_proxy})
    assert environment.bypasses(host, port) is bypassed
    expected = None if bypassed else EgressProxy("p", 1)
    assert environment.proxy_for("https", host, port) == expected


def test_lower_case_no_proxy_wins_too() -> None:
    environment = ProxyEnvironment.from_environ(
        {"HTTP_PROXY": "p:1", "NO_PROXY": "a.example", "no_proxy": "b.example"}
    )
    assert environment.bypasses("b.example", 80)
    assert not environment.bypasses("a.example", 80)


def test_check_config_names_a_vendors_proxy_but_not_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        "[[vendors]]\nkind = 'esms100'\nname = 'e1'\nbase_url = 'https://api.vendor.example'\n"
        "price_per_segment = 0.05\ncpid = '1'\npassword = 'vendor-pw'\n"
        f"proxy_url = 'http://smsproxy:{SECRET}@egress.internal:3128'\n",
        encoding="utf-8",
    )
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert (
        "vendor e1: esms100 at https://api.vendor.example through proxy egress.internal:3128" in out
    )
    assert SECRET not in out
