"""Fixtures shared by the suites: simulators and daemons on loopback ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import uvloop

from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from config.loader import settings_from
from proxy.serve import Daemon
from tests.redis_server import RedisServer, start_redis_server

ADMIN_TOKEN = "admin-token-for-tests"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CPID = "acme"
PASSWORD = "acme-pass"

DaemonFactory = Callable[..., Awaitable[Daemon]]
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy")


def plain_structlog() -> None:
    """structlog's defaults, but an exception drawn as plain text.

    Daemons inside the tests log through structlog's defaults (the CLI's
    configure_logging is not called), which draw a logged exception with rich
    when it is installed (import-linter brings it): the frames, highlighted,
    with every local's repr.  That took over 3 s a traceback here, holding the
    test's event loop each time a vendor or Redis failure was logged; a Redis
    call behind it timed out and a send was answered -110.  Tests that
    configure logging of their own come back to this."""
    structlog.reset_defaults()
    processors = list(structlog.get_config()["processors"])
    processors[-1] = structlog.dev.ConsoleRenderer(
        exception_formatter=structlog.dev.plain_traceback
    )
    structlog.configure(processors=processors)


def pytest_configure(config: pytest.Config) -> None:
    plain_structlog()


@pytest.fixture(scope="session", autouse=True)
def no_proxy_variables() -> Iterator[None]:
    """The tests' vendors are on loopback: a developer's or CI's HTTP(S)_PROXY is not
    for them.  The egress proxy tests set their own."""
    with pytest.MonkeyPatch.context() as patch:
        for name in PROXY_VARIABLES:
            patch.delenv(name, raising=False)
            patch.delenv(name.upper(), raising=False)
        yield


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session; tests keep apart by key prefix."""
    server = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
async def esms100() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(Esms100Simulator(cpid="vendor-acct", password="vendor-pw")) as s:
        yield s


def base_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "listen": {"legacy": "127.0.0.1:0", "admin": "127.0.0.1:0", "push": "127.0.0.1:0"},
        "state": {"path": str(tmp_path / "state.sqlite3")},
        "routing": {"send_deadline_s": 3.0},
        "shutdown": {"grace_s": 2.0},
        "admin": {"token": ADMIN_TOKEN},
        "clients": [{"cpid": CPID, "password": PASSWORD, "rate_per_s": 100}],
        "vendors": [],
    }
    config.update(overrides)
    return config


def redis_config(
    tmp_path: Path, redis_url: str, prefix: str, vendor: SimulatorServer
) -> dict[str, Any]:
    """A daemon on Redis with one esms100 vendor, neither it nor the client rate-limited."""
    return base_config(
        tmp_path,
        state={"engine": "redis", "redis_url": redis_url, "redis_prefix": prefix},
        vendors=[esms100_vendor(vendor, rate_per_s=10_000)],
        clients=[{"cpid": CPID, "password": PASSWORD, "rate_per_s": 10_000}],
    )


def esms100_vendor(server: SimulatorServer, name: str = "esms100", **extra: Any) -> dict[str, Any]:
    sim = server.simulator
    return {
        "kind": "esms100",
        "name": name,
        "base_url": server.url,
        "price_per_segment": 0.05,
        "timeout_s": 1.0,
        "connect_timeout_s": 0.5,
        **sim.credentials(),
        **extra,
    }


@pytest.fixture
async def start_daemon() -> AsyncIterator[DaemonFactory]:
    started: list[Daemon] = []

    async def start(config: dict[str, Any]) -> Daemon:
        daemon = Daemon(settings_from(config, "(test)"))
        await daemon.start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        await daemon.stop()


# The daemon runs on uvloop (proxy/event_loop.py), and so do the tests; the
# modules that own sockets through asyncio's protocol API run on the
# standard loop as well, which is what runs where uvloop is not installed.
BOTH_LOOPS = {
    "tests.unit.test_http_server",
    "tests.unit.test_http_limits",
    "tests.adapters.test_vendor_http",
    "tests.adapters.test_egress_proxy",
}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.module is not None and item.module.__name__ in BOTH_LOOPS:
        return {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}
    return {"uvloop": uvloop.new_event_loop}
