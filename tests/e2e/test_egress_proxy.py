"""The daemon calls vendors through an egress proxy (Debian's tinyproxy), and fails over
when the proxy refuses it, with the proxy's password in no log line and no metric."""

from __future__ import annotations

import io
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import structlog
from aiohttp import web
from prometheus_client import generate_latest

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import Simulator, SimulatorServer
from proxy.logging import configure_logging
from tests.adapters.test_egress_proxy import SECRET, USER, certificate, proxy
from tests.conftest import DaemonFactory, base_config, plain_structlog
from tests.e2e.test_failover import send
from tests.tinyproxy import Tinyproxy

WRONG = "wr0ng-pr0xy-pw"
__all__ = ["certificate", "proxy"]  # the fixtures, shared with the adapter tests


@pytest.fixture
def trusted(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's default TLS context (OpenSSL's) trusts the test vendor's certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    # Uncached: a module's logger first used here must not write to this stream ever after.
    structlog.configure(cache_logger_on_first_use=False)
    yield stream
    plain_structlog()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)


@asynccontextmanager
async def over_tls(simulator: Simulator, certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    """A simulator serving https on a loopback port: its URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    runner = web.AppRunner(simulator.app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def vendor(
    simulator: Simulator, name: str, url: str, price: float, **extra: object
) -> dict[str, object]:
    return {
        "kind": "esms100",
        "name": name,
        "base_url": url,
        "price_per_segment": price,
        "timeout_s": 1.0,
        "connect_timeout_s": 0.5,
        **simulator.credentials(),
        **extra,
    }


@pytest.mark.usefixtures("trusted")
async def test_a_proxy_refusing_our_credentials_fails_over_and_leaks_nothing(
    proxy: Tinyproxy,
    certificate: tuple[Path, Path],
    start_daemon: DaemonFactory,
    tmp_path: Path,
    json_logs: io.StringIO,
) -> None:
    behind, direct = Esms100Simulator(), Esms100Simulator()
    async with over_tls(behind, certificate) as behind_url, SimulatorServer(direct) as server:
        vendors = [
            # The cheapest, behind the proxy, with a password the proxy refuses.
            vendor(behind, "behind", behind_url, 0.01, proxy_url=proxy.url((USER, WRONG))),
            vendor(direct, "direct", server.url, 0.05),
        ]
        daemon = await start_daemon(base_config(tmp_path, vendors=vendors))
        to = ["13900000001", "13900000002"]
        assert await send(daemon, to, "【ACME】code 1") == b"0"
        assert behind.requests == 0
        assert sorted(direct.phones_of("【ACME】code 1")) == to
        # The proxy's refusal is a configuration fault: ejected, not retried.
        assert "behind=ejected" in repr(daemon.engine.router)
        metrics = generate_latest(daemon.state.metrics.registry).decode()
        assert (
            'smsproxy_failovers_total{from_vendor="behind",reason="refused",to_vendor="direct"} 1.0'
            in metrics
        )
    assert WRONG not in json_logs.getvalue() and WRONG not in metrics
    assert "proxy_auth" in json_logs.getvalue()  # the reason the log gives
    assert WRONG not in proxy.log()


@pytest.mark.usefixtures("trusted")
async def test_the_environments_proxy_carries_vendor_calls(
    proxy: Tinyproxy,
    certificate: tuple[Path, Path],
    start_daemon: DaemonFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    json_logs: io.StringIO,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    monkeypatch.setenv("http_proxy", proxy.url())
    behind, direct = Esms100Simulator(), Esms100Simulator()
    async with over_tls(behind, certificate) as behind_url, SimulatorServer(direct) as server:
        vendors = [
            vendor(behind, "behind", behind_url, 0.01),
            vendor(direct, "direct", server.url, 0.05, use_env_proxy=False),
        ]
        daemon = await start_daemon(base_config(tmp_path, vendors=vendors))
        assert await send(daemon, ["13900000003"], "【ACME】code 2") == b"0"
        assert behind.phones_of("【ACME】code 2") == ["13900000003"]
        # The environment is read once, at start: changing it later changes nothing.
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        assert await send(daemon, ["13900000004"], "【ACME】code 3") == b"0"
        assert behind.phones_of("【ACME】code 3") == ["13900000004"]
        await daemon.stop()
    behind_port = behind_url.rsplit(":", 1)[1]
    assert f"CONNECT 127.0.0.1:{behind_port} HTTP/1.1" in proxy.requests()
    # The vendor that opts out never went through it.
    assert not any(f":{server.port}" in line for line in proxy.requests())
    assert SECRET not in json_logs.getvalue()
    [started] = [line for line in json_logs.getvalue().splitlines() if "egress_proxy" in line]
    assert f"127.0.0.1:{proxy.port} with credentials" in started
