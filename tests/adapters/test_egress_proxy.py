"""Vendor calls through an egress proxy: Debian's tinyproxy, and raw ones that misbehave.

tinyproxy opens its connections to the vendors from 127.0.0.2 (see
tests/tinyproxy.py): a vendor that sees that peer was reached through it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from adapters.http.client import VendorHttp
from adapters.transport import TransportFailure, VendorTransport
from config.egress import EgressProxy, ProxyEnvironment, parse_proxy_url
from core.outcome import Outcome
from core.send import HttpRequest, HttpResponse
from tests.adapters.test_vendor_http import (
    RawServer,
    ok,
    read_request,
    self_signed_certificate,
    until,
)
from tests.tinyproxy import EGRESS_ADDRESS, Tinyproxy, start_tinyproxy

USER, SECRET = "smsproxy", "pr0xy-s3cret"
SEND = HttpRequest("POST", "/mt/", body=b"phone=13900000000", content_type="text/plain")


class Vendor:
    """What an aiohttp vendor saw: each request's peer address and headers."""

    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] = []
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers.append((peer[0], peer[1]) if peer else ("?", 0))
        self.headers.append(dict(request.headers))
        return web.Response(body=b"got " + await request.read(), content_type="text/plain")

    @property
    def hosts(self) -> set[str]:
        return {host for host, _ in self.peers}


async def serve(vendor: Vendor, context: ssl.SSLContext | None) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", vendor.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    scheme = "https" if context is not None else "http"
    yield f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """One tinyproxy for the module, wanting credentials."""
    server = start_tinyproxy(tmp_path_factory.mktemp("tinyproxy"), (USER, SECRET))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def trust(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    # Only our certificate: also spares each test loading the system's CA store.
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
async def http_vendor() -> AsyncIterator[tuple[Vendor, str]]:
    vendor = Vendor()
    async for url in serve(vendor, None):
        yield vendor, url


@pytest.fixture
async def https_vendor(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[Vendor, str]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    vendor = Vendor()
    async for url in serve(vendor, context):
        yield vendor, url


def through(
    http: VendorHttp, url: str, proxy: str | None, timeout_s: float = 2.0
) -> VendorTransport:
    return VendorTransport(
        http,
        url,
        connect_timeout_s=1.0,
        timeout_s=timeout_s,
        proxy=parse_proxy_url(proxy) if proxy is not None else None,
    )


def answered(result: HttpResponse | TransportFailure) -> bytes:
    assert isinstance(result, HttpResponse), result
    assert result.status == 200, result
    return result.body


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# -- through Debian's tinyproxy ------------------------------------------------


async def test_an_http_vendor_is_called_through_the_proxy_in_absolute_form(
    proxy: Tinyproxy, http_vendor: tuple[Vendor, str]
) -> None:
    vendor, url = http_vendor
    async with VendorHttp() as http:
        t = through(http, url, proxy.url())
        for _ in range(3):
            assert answered(await t.exchange(SEND)) == b"got phone=13900000000"
            origin, _ = http.origin(url, proxy=parse_proxy_url(proxy.url()))
            assert origin.open_connections == 0  # one connection to the proxy a request
    assert vendor.hosts == {EGRESS_ADDRESS}  # the proxy's, not ours
    # The proxy's credentials stop at the proxy.
    assert not any("Proxy-Authorization" in h for h in vendor.headers)
    await until(lambda: proxy.requests().count(f"POST {url}/mt/ HTTP/1.1") == 3)


async def test_an_https_vendor_is_called_in_a_connect_tunnel_kept_alive(
    proxy: Tinyproxy, https_vendor: tuple[Vendor, str], trust: ssl.SSLContext
) -> None:
    vendor, url = https_vendor
    async with VendorHttp(ssl_context=trust) as http:
        t = through(http, url, proxy.url())
        for _ in range(3):
            assert answered(await t.exchange(SEND)) == b"got phone=13900000000"
        origin, _ = http.origin(url, proxy=parse_proxy_url(proxy.url()))
        assert origin.open_connections == 1
    # One tunnel, pooled: one CONNECT, one peer, three requests in it.
    assert len(vendor.peers) == 3 and len(set(vendor.peers)) == 1
    assert vendor.hosts == {EGRESS_ADDRESS}
    assert not any("Proxy-Authorization" in h for h in vendor.headers)
    connect = f"CONNECT 127.0.0.1:{port_of(url)} HTTP/1.1"
    await until(lambda: connect in proxy.requests())
    assert proxy.requests().count(connect) == 1


async def test_tls_in_the_tunnel_is_verified_against_the_vendor(
    proxy: Tinyproxy, https_vendor: tuple[Vendor, str]
) -> None:
    vendor, url = https_vendor
    async with VendorHttp() as http:  # the system's CAs: they never signed the vendor's
        t = through(http, url, proxy.url())
        assert await t.exchange(SEND) == TransportFailure(Outcome.REFUSED, "tls_verify")
    assert vendor.peers == []


async def test_tls_in_the_tunnel_is_verified_against_the_vendors_name_not_the_proxys(
    proxy: Tinyproxy, tmp_path: Path
) -> None:
    # A certificate for "localhost" only; the proxy is 127.0.0.1, and resolves the name itself.
    cert, key = self_signed_certificate(tmp_path, "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    vendor = Vendor()
    async for url in serve(vendor, context):
        named = url.replace("127.0.0.1", "localhost")
        trust = ssl.create_default_context(cafile=str(cert))
        async with VendorHttp(ssl_context=trust) as http:
            assert answered(await through(http, named, proxy.url()).exchange(SEND))
            # The same vendor by address: its certificate does not name it.
            refused = await through(http, url, proxy.url()).exchange(SEND)
            assert refused == TransportFailure(Outcome.REFUSED, "tls_verify")
    assert vendor.hosts == {EGRESS_ADDRESS} and len(vendor.peers) == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("credentials", [(USER, "wrong-password"), None], ids=["wrong", "none"])
async def test_credentials_the_proxy_refuses_are_a_clear_refusal_with_nothing_sent(
    proxy: Tinyproxy,
    http_vendor: tuple[Vendor, str],
    https_vendor: tuple[Vendor, str],
    trust: ssl.SSLContext,
    scheme: str,
    credentials: tuple[str, str] | None,
) -> None:
    vendor, url = http_vendor if scheme == "http" else https_vendor
    proxy_url = proxy.url(credentials) if credentials else f"http://127.0.0.1:{proxy.port}"
    async with VendorHttp(ssl_context=trust) as http:
        got = await through(http, url, proxy_url).exchange(SEND)
    if scheme == "http" and credentials is not None:
        # tinyproxy 1.11 answers wrong credentials 401, not 407: over plain http
        # that reads as the vendor's own 401 (auth_failed, a config fault that
        # fails over), which is what the adapters make of it.
        assert isinstance(got, HttpResponse) and got.status == 401
    else:
        # 407 to an http request, 401 (tinyproxy's again) or 407 to a CONNECT:
        # the proxy's word, not the vendor's, and not ambiguous.
        assert got == TransportFailure(Outcome.REFUSED, "proxy_auth")
    assert vendor.peers == []
    assert "wrong-password" not in proxy.log()


async def test_a_vendor_the_proxy_cannot_reach_is_unreachable(
    proxy: Tinyproxy, trust: ssl.SSLContext
) -> None:
    server = RawServer(keep_alive_echo_never)
    async with server:
        closed = server.url.replace("http://", "https://")
    async with VendorHttp(ssl_context=trust) as http:
        t = through(http, closed, proxy.url())
        # tinyproxy answers the CONNECT 500 "Unable to connect".
        assert await t.exchange(SEND) == TransportFailure(Outcome.UNREACHABLE, "proxy_failed")


async def keep_alive_echo_never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    raise AssertionError("a closed server is never called")


async def test_the_environments_proxy_and_no_proxy(
    proxy: Tinyproxy,
    http_vendor: tuple[Vendor, str],
    https_vendor: tuple[Vendor, str],
    trust: ssl.SSLContext,
) -> None:
    plain, plain_url = http_vendor
    tls, tls_url = https_vendor
    through_proxy = ProxyEnvironment.from_environ(
        {"HTTP_PROXY": proxy.url(), "https_proxy": proxy.url()}
    )
    async with VendorHttp(ssl_context=trust, environment=through_proxy) as http:
        for url in (plain_url, tls_url):
            t = VendorTransport(http, url, connect_timeout_s=1.0, timeout_s=2.0)
            answered(await t.exchange(SEND))
            # A vendor that opts out is called directly.
            t = VendorTransport(
                http, url, connect_timeout_s=1.0, timeout_s=2.0, use_env_proxy=False
            )
            answered(await t.exchange(SEND))
    assert [host for host, _ in plain.peers] == [EGRESS_ADDRESS, "127.0.0.1"]
    assert [host for host, _ in tls.peers] == [EGRESS_ADDRESS, "127.0.0.1"]

    # NO_PROXY names the vendors' host (one of them by port): both direct.
    bypassed = ProxyEnvironment.from_environ(
        {
            "HTTP_PROXY": proxy.url(),
            "HTTPS_PROXY": proxy.url(),
            "NO_PROXY": f"localhost, 127.0.0.1:{port_of(plain_url)}, .internal, 127.0.0.0/8",
        }
    )
    seen = len(proxy.requests())
    async with VendorHttp(ssl_context=trust, environment=bypassed) as http:
        for url in (plain_url, tls_url):
            t = VendorTransport(http, url, connect_timeout_s=1.0, timeout_s=2.0)
            answered(await t.exchange(SEND))
    assert [host for host, _ in plain.peers][2:] == ["127.0.0.1"]
    assert [host for host, _ in tls.peers][2:] == ["127.0.0.1"]
    assert len(proxy.requests()) == seen


async def test_a_vendors_own_proxy_wins_over_the_environment(
    proxy: Tinyproxy, http_vendor: tuple[Vendor, str]
) -> None:
    vendor, url = http_vendor
    elsewhere = ProxyEnvironment.from_environ({"HTTP_PROXY": "http://127.0.0.1:9"})
    async with VendorHttp(environment=elsewhere) as http:
        answered(await through(http, url, proxy.url()).exchange(SEND))
        refused = VendorTransport(http, url, connect_timeout_s=1.0, timeout_s=2.0)
        assert await refused.exchange(SEND) == TransportFailure(
            Outcome.UNREACHABLE, "connect_error"
        )
    assert vendor.hosts == {EGRESS_ADDRESS}


# -- raw proxies: the bytes on the wire, and proxies that misbehave --------------


class FakeProxy:
    """Records what it was sent; answers a CONNECT with ``answer`` (None: never)."""

    def __init__(self, answer: bytes | None, then_close: bool = True) -> None:
        self.answer = answer
        self.then_close = then_close
        self.heads: list[bytes] = []
        self.after: list[bytes] = []  # what came after the CONNECT, until the client closed
        self.server = RawServer(self.handle)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        if request is None:
            return
        self.heads.append(request[0])
        if self.answer is None:
            await reader.read()  # until the client gives up
            return
        writer.write(self.answer)
        if not self.then_close:
            self.after.append(await reader.read())

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
async def fake_proxy() -> AsyncIterator[FakeProxy]:
    fake = FakeProxy(None)
    async with fake.server:
        yield fake


async def test_the_bytes_an_http_request_goes_to_the_proxy_with(fake_proxy: FakeProxy) -> None:
    fake_proxy.answer = ok(b"done")
    fake_proxy.then_close = False
    async with VendorHttp() as http:
        proxy = f"http://{USER}:{SECRET}@127.0.0.1:{fake_proxy.server.port}"
        t = through(http, "http://api.vendor.example:8080/sms", proxy)
        assert answered(await t.exchange(SEND)) == b"done"
    assert fake_proxy.heads == [
        b"POST http://api.vendor.example:8080/sms/mt/ HTTP/1.1\r\n"
        b"Host: api.vendor.example:8080\r\n"
        b"User-Agent: smsproxy\r\n"
        b"Proxy-Authorization: Basic c21zcHJveHk6cHIweHktczNjcmV0\r\n"
        b"Connection: close\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length: 17\r\n"
        b"\r\n"
    ]


async def test_a_proxy_closing_after_each_answer_never_makes_a_send_ambiguous() -> None:
    async def like_tinyproxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # An HTTP/1.1 answer without "Connection: close", then the connection
        # closed a moment later, whatever the client wrote meanwhile.
        if await read_request(reader) is not None:
            writer.write(ok(b"sent"))
            await asyncio.sleep(0.05)

    async with RawServer(like_tinyproxy) as server, VendorHttp() as http:
        t = through(http, "http://api.vendor.example", f"http://127.0.0.1:{server.port}")
        for _ in range(3):
            # Reused, the connection would take the next send as it closes.
            assert answered(await t.exchange(SEND)) == b"sent"
        assert server.connections == 3


async def test_the_bytes_a_connect_goes_to_the_proxy_with(
    fake_proxy: FakeProxy, trust: ssl.SSLContext
) -> None:
    fake_proxy.answer = b"HTTP/1.1 200 Connection established\r\n\r\n"
    fake_proxy.then_close = False
    async with VendorHttp(ssl_context=trust) as http:
        proxy = f"http://{USER}:{SECRET}@127.0.0.1:{fake_proxy.server.port}"
        # The fake proxy tunnels nowhere: the TLS hello it receives goes unanswered.
        t = through(http, "https://api.vendor.example/sms", proxy, timeout_s=0.3)
        got = await t.exchange(SEND)
    assert got == TransportFailure(Outcome.UNREACHABLE, "connect_timeout")
    assert fake_proxy.heads == [
        b"CONNECT api.vendor.example:443 HTTP/1.1\r\n"
        b"Host: api.vendor.example:443\r\n"
        b"Proxy-Authorization: Basic c21zcHJveHk6cHIweHktczNjcmV0\r\n"
        b"User-Agent: smsproxy\r\n"
        b"\r\n"
    ]
    # What followed the CONNECT was the start of TLS (a handshake record), never the request.
    await until(lambda: bool(fake_proxy.after))
    assert fake_proxy.after[0][:1] == b"\x16" and b"phone=" not in fake_proxy.after[0]


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", ("refused", "proxy_auth")),
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied", ("refused", "proxy_denied")),
        (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", ("unreachable", "proxy_failed")),
        (b"HTTP/1.1 504 Gateway Timeout\r\n\r\n", ("unreachable", "proxy_failed")),
        (b"HTTP/1.1 200 OK\r\n\r\nbytes of the proxy's own", ("unreachable", "connect_error")),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", ("unreachable", "connect_error")),
        (b"HTTP/1.1 200 OK\r\n", ("unreachable", "connect_error")),  # then closed
        (b"", ("unreachable", "connect_error")),  # closed before answering
    ],
    ids=["407", "403", "502", "504", "extra-bytes", "not-http", "half-answer", "closed"],
)
async def test_a_connect_that_fails_is_never_ambiguous(
    fake_proxy: FakeProxy, trust: ssl.SSLContext, answer: bytes, failure: tuple[str, str]
) -> None:
    fake_proxy.answer = answer
    async with VendorHttp(ssl_context=trust) as http:
        t = through(
            http, "https://api.vendor.example", f"http://127.0.0.1:{fake_proxy.server.port}"
        )
        assert await t.exchange(SEND) == TransportFailure(Outcome(failure[0]), failure[1])
        origin, _ = http.origin(
            "https://api.vendor.example", proxy=EgressProxy("127.0.0.1", fake_proxy.server.port)
        )
        assert origin.open_connections == 0


async def test_a_proxy_that_never_answers_connect_costs_the_connect_time_out(
    fake_proxy: FakeProxy, trust: ssl.SSLContext
) -> None:
    async with VendorHttp(ssl_context=trust) as http:
        t = VendorTransport(
            http,
            "https://api.vendor.example",
            connect_timeout_s=0.3,
            timeout_s=5.0,
            proxy=EgressProxy("127.0.0.1", fake_proxy.server.port),
        )
        started = time.monotonic()
        assert await t.exchange(SEND) == TransportFailure(Outcome.UNREACHABLE, "connect_timeout")
        assert 0.25 < time.monotonic() - started < 1.0
    await until(lambda: fake_proxy.server.ended == 1)  # and its connection was closed


async def test_a_proxy_that_is_down_is_unreachable(trust: ssl.SSLContext) -> None:
    server = RawServer(keep_alive_echo_never)
    async with server:
        port = server.port
    async with VendorHttp(ssl_context=trust) as http:
        for url in ("http://api.vendor.example", "https://api.vendor.example"):
            t = VendorTransport(
                http,
                url,
                connect_timeout_s=1.0,
                timeout_s=2.0,
                proxy=EgressProxy("127.0.0.1", port),
            )
            assert await t.exchange(SEND) == TransportFailure(Outcome.UNREACHABLE, "connect_error")
