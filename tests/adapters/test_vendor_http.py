"""The vendor HTTP client and transport over real sockets: aiohttp and raw servers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from adapters.http.client import VendorHttp
from adapters.http.connection import MAX_RESPONSE_BYTES
from adapters.transport import TransportFailure, VendorTransport
from core.outcome import Outcome
from core.send import HttpRequest, HttpResponse

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One request's head and body, or None at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


class RawServer:
    """A loopback asyncio server running ``handle`` per connection, counting them."""

    def __init__(self, handle: Handler) -> None:
        self._handle = handle
        self.connections = 0
        self.ended = 0  # connections whose handler returned (most: the client closed)
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.ended += 1
            del self._handlers[task]
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        # Handlers still running (a silent server, say) end with their connection.
        for writer in self._handlers.values():
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)


async def until(check: Callable[[], bool], within_s: float = 2.0) -> None:
    stop = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < stop, "condition not met in time"
        await asyncio.sleep(0.01)


def transport(
    http: VendorHttp, url: str, connect_timeout_s: float = 1.0, timeout_s: float = 2.0
) -> VendorTransport:
    return VendorTransport(http, url, connect_timeout_s=connect_timeout_s, timeout_s=timeout_s)


def answer(result: HttpResponse | TransportFailure) -> HttpResponse:
    assert isinstance(result, HttpResponse), result
    return result


GET = HttpRequest("GET", "/x")


async def keep_alive_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request with its request line."""
    while (request := await read_request(reader)) is not None:
        writer.write(ok(request[0].split(b"\r\n", 1)[0]))


# -- against aiohttp's server ---------------------------------------------


class AiohttpVendor:
    def __init__(self) -> None:
        self.peers: list[str] = []
        self.seen: list[tuple[str, str, str, str, bytes]] = []  # method, raw path, host, type, body
        self.in_flight = 0
        self.most_in_flight = 0
        self.delay_s = 0.0
        self.body_size: int | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers.append(str(peer))
        body = await request.read()
        self.seen.append(
            (
                request.method,
                request.raw_path,
                request.headers.get("Host", ""),
                request.headers.get("Content-Type", ""),
                body,
            )
        )
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if self.body_size is not None:
            return web.Response(body=b"x" * self.body_size, content_type="text/plain")
        return web.Response(body=body or b"empty", content_type="application/json")


@pytest.fixture
async def vendor() -> AsyncIterator[tuple[AiohttpVendor, str]]:
    state = AiohttpVendor()
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield state, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_sequential_requests_share_one_kept_alive_connection(
    vendor: tuple[AiohttpVendor, str],
) -> None:
    state, url = vendor
    async with VendorHttp() as http:
        t = transport(http, url)
        for i in range(20):
            got = answer(await t.exchange(HttpRequest("POST", "/mt/", body=b"n=%d" % i)))
            assert got.body == b"n=%d" % i
    assert len(state.peers) == 20
    assert len(set(state.peers)) == 1


async def test_post_body_content_type_path_and_host_arrive_intact(
    vendor: tuple[AiohttpVendor, str],
) -> None:
    state, url = vendor
    body = "【测试】验证码 123456".encode("gbk") + bytes(range(256)) * 800
    async with VendorHttp() as http:
        # A base URL with a path: the vendor's paths are below it.
        t = transport(http, url + "/api/v2/")
        got = answer(
            await t.exchange(
                HttpRequest(
                    "POST", "/send", body=body, content_type="application/x-www-form-urlencoded"
                )
            )
        )
        assert got.status == 200
        assert got.body == body
        assert got.content_type.startswith("application/json")
        query = answer(await t.exchange(HttpRequest("GET", "/q", query="a=%E6%B5%8B&b=1+2")))
        assert query.body == b"empty"
        empty_post = answer(await t.exchange(HttpRequest("POST", "/empty")))
        assert empty_post.body == b"empty"
    port = url.rsplit(":", 1)[1]
    assert state.seen[0] == (
        "POST",
        "/api/v2/send",
        f"127.0.0.1:{port}",
        "application/x-www-form-urlencoded",
        body,
    )
    assert state.seen[1] == ("GET", "/api/v2/q?a=%E6%B5%8B&b=1+2", f"127.0.0.1:{port}", "", b"")
    assert state.seen[2][:2] == ("POST", "/api/v2/empty")


async def test_concurrent_callers_never_exceed_the_pool_limit(
    vendor: tuple[AiohttpVendor, str],
) -> None:
    state, url = vendor
    state.delay_s = 0.05
    async with VendorHttp(limit_per_host=3) as http:
        t = transport(http, url)
        results = await asyncio.gather(
            *(t.exchange(HttpRequest("POST", "/mt/", body=b"%d" % i)) for i in range(15))
        )
    assert sorted(answer(r).body for r in results) == sorted(b"%d" % i for i in range(15))
    assert state.most_in_flight == 3
    assert len(set(state.peers)) == 3


async def test_waiting_callers_are_served_first_come_first_served(
    vendor: tuple[AiohttpVendor, str],
) -> None:
    state, url = vendor
    state.delay_s = 0.01
    async with VendorHttp(limit_per_host=1) as http:
        t = transport(http, url)
        calls = []
        for i in range(6):
            calls.append(asyncio.create_task(t.exchange(HttpRequest("POST", "/", body=b"%d" % i))))
            await asyncio.sleep(0)  # each caller is queued before the next starts
        await asyncio.gather(*calls)
    assert [s[4] for s in state.seen] == [b"%d" % i for i in range(6)]


async def test_vendors_on_other_origins_get_pools_of_their_own(
    vendor: tuple[AiohttpVendor, str],
) -> None:
    state, url = vendor
    state.delay_s = 0.05
    async with VendorHttp(limit_per_host=1) as http:
        # localhost and 127.0.0.1 are one server but two origins: two connections at once.
        other = url.replace("127.0.0.1", "localhost")
        a, b = transport(http, url), transport(http, other)
        await asyncio.gather(a.exchange(GET), b.exchange(GET))
    assert state.most_in_flight == 2


async def test_body_at_the_limit_passes_and_over_it_fails(
    vendor: tuple[AiohttpVendor, str],
) -> None:
    state, url = vendor
    async with VendorHttp() as http:
        t = transport(http, url)
        state.body_size = MAX_RESPONSE_BYTES
        assert len(answer(await t.exchange(GET)).body) == MAX_RESPONSE_BYTES
        state.body_size = MAX_RESPONSE_BYTES + 1
        assert await t.exchange(GET) == TransportFailure(Outcome.AMBIGUOUS, "transport_error")
        state.body_size = 5
        assert answer(await t.exchange(GET)).body == b"xxxxx"
    # The oversized answer's connection was dropped, not reused.
    assert len(set(state.peers)) == 2


# -- against raw servers --------------------------------------------------


async def test_chunked_answer_split_across_writes() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n")
            await writer.drain()
            writer.write(b"Content-Type: text/xml\r\n\r\n5\r\nhel")
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(b"lo\r\n7\r\n, world\r\n0\r\n\r\n")
            await writer.drain()

    async with RawServer(chunked) as server, VendorHttp() as http:
        t = transport(http, server.url)
        first = answer(await t.exchange(GET))
        second = answer(await t.exchange(GET))
    assert first == HttpResponse(200, b"hello, world", "text/xml")
    assert second == first
    assert server.connections == 1


async def test_answer_delimited_by_close() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"world")
        await writer.drain()

    async with RawServer(until_close) as server, VendorHttp() as http:
        t = transport(http, server.url)
        assert answer(await t.exchange(GET)) == HttpResponse(200, b"hello world", "text/plain")
        assert answer(await t.exchange(GET)).body == b"hello world"
    assert server.connections == 2


async def test_interim_answers_are_skipped() -> None:
    async def with_continue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok(b"final"))

    async with RawServer(with_continue) as server, VendorHttp() as http:
        t = transport(http, server.url)
        assert answer(await t.exchange(GET)).body == b"final"
        assert answer(await t.exchange(GET)).body == b"final"
    assert server.connections == 1


async def test_connection_close_header_is_honoured() -> None:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(ok(b"bye", b"Connection: close\r\n"))
        await writer.drain()
        # Holds the connection open: only the client can have closed it.
        await reader.read()

    async with RawServer(closing) as server, VendorHttp() as http:
        t = transport(http, server.url)
        assert answer(await t.exchange(GET)).body == b"bye"
        await until(lambda: server.ended == 1)
        assert answer(await t.exchange(GET)).body == b"bye"
    assert server.connections == 2


async def test_peer_closing_an_idle_connection_costs_nothing() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        assert request is not None
        writer.write(ok(b"one"))  # keep-alive by default in HTTP/1.1...
        await writer.drain()
        await asyncio.sleep(0.02)  # ...then an idle time-out on the server's side

    async with RawServer(one_then_close) as server, VendorHttp(limit_per_host=1) as http:
        t = transport(http, server.url)
        origin, _ = http.origin(server.url)
        for _ in range(3):
            assert answer(await t.exchange(GET)).body == b"one"
            assert (origin.open_connections, origin.idle_connections) == (1, 1)
            await until(lambda: server.ended == server.connections)
            # Forgotten as soon as the peer closes it, not when next wanted.
            await until(lambda: origin.open_connections == 0)
            assert origin.idle_connections == 0
    assert server.connections == 3


async def test_an_idle_connection_whose_end_the_loop_has_not_read_is_not_used() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    close_first = threading.Event()
    first_closed = threading.Event()

    def serve() -> None:
        # A blocking server in a thread: it closes while the test's loop is blocked.
        for i, body in enumerate((b"one", b"two")):
            conn, _ = listener.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                conn.sendall(ok(body))
                if i == 0:
                    close_first.wait(5)
            if i == 0:
                first_closed.set()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        async with VendorHttp() as http:
            t = transport(http, url)
            assert answer(await t.exchange(GET)).body == b"one"
            close_first.set()
            # Blocking on purpose: the peer's end reaches our socket, not the loop.
            assert first_closed.wait(5)
            time.sleep(0.05)  # noqa: ASYNC251 - the loop must not run meanwhile
            # Not written to a connection the peer already left: that would be AMBIGUOUS.
            assert answer(await t.exchange(GET)).body == b"two"
    finally:
        close_first.set()
        thread.join(5)
        listener.close()


async def test_a_pooled_connection_whose_first_write_fails_is_replaced() -> None:
    async with RawServer(keep_alive_echo) as server, VendorHttp() as http:
        t = transport(http, server.url)
        answer(await t.exchange(GET))
        origin, _ = http.origin(server.url)
        (idle,) = origin._idle
        assert idle._transport is not None
        # Our side can no longer write, and the peer has said nothing yet: the
        # request's first send fails outright, before a byte of it left.
        fd = idle._transport.get_extra_info("socket").fileno()
        with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as same:
            same.shutdown(socket.SHUT_WR)  # uvloop's socket object does not offer it
        assert answer(await t.exchange(GET)).body == b"GET /x HTTP/1.1"
    assert server.connections == 2


async def test_idle_connections_are_closed_after_the_idle_time() -> None:
    async with RawServer(keep_alive_echo) as server, VendorHttp(idle_s=1.0) as http:
        t = transport(http, server.url)
        answer(await t.exchange(GET))
        await asyncio.sleep(0.05)
        assert server.ended == 0
        # Closed by the client with no further request to notice it.
        await until(lambda: server.ended == 1, within_s=3.0)
        assert answer(await t.exchange(GET)).body == b"GET /x HTTP/1.1"
    assert server.connections == 2


async def test_newest_idle_connection_is_reused_first() -> None:
    async def tagged(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = server.connections
        slow = me == 1  # the first connection's first answer comes last
        while await read_request(reader) is not None:
            await asyncio.sleep(0.05 if slow else 0)
            slow = False
            writer.write(ok(b"%d" % me))

    async with RawServer(tagged) as server, VendorHttp() as http:
        t = transport(http, server.url)
        both = await asyncio.gather(t.exchange(GET), t.exchange(GET))
        assert sorted(answer(r).body for r in both) == [b"1", b"2"]
        for _ in range(3):
            assert answer(await t.exchange(GET)).body == b"1"
    assert server.connections == 2


async def test_a_hung_vendor_costs_timeout_s_and_no_more() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with RawServer(silent) as server, VendorHttp() as http:
        t = transport(http, server.url, connect_timeout_s=0.5, timeout_s=0.3)
        started = time.monotonic()
        result = await t.exchange(GET)
        elapsed = time.monotonic() - started
        assert result == TransportFailure(Outcome.AMBIGUOUS, "timeout")
        # timeout_s bounds the whole exchange: the connect time-out is not added
        # to it (0.8 s), with room for a slow machine's late timer.
        assert 0.29 <= elapsed < 0.75
        # The timed-out connection is closed, not handed to the next caller.
        await until(lambda: server.ended == 1)


async def test_waiting_too_long_for_a_pooled_connection_is_unreachable() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with RawServer(silent) as server, VendorHttp(limit_per_host=1) as http:
        patient = transport(http, server.url, connect_timeout_s=0.1, timeout_s=1.5)
        hasty = transport(http, server.url, connect_timeout_s=0.6, timeout_s=0.2)
        busy = asyncio.create_task(patient.exchange(GET))
        await until(lambda: server.connections == 1)
        started = time.monotonic()
        queued = await hasty.exchange(GET)
        # Never written: another vendor may take the send.
        assert queued == TransportFailure(Outcome.UNREACHABLE, "connect_timeout")
        # The wait for a pooled connection is part of timeout_s, not added to it
        # (0.8 s), with room for a slow machine's late timer.
        assert 0.19 <= time.monotonic() - started < 0.75
        assert not busy.done()
        assert await busy == TransportFailure(Outcome.AMBIGUOUS, "timeout")
        # The queue's time-out did not cost the pool its only slot.
        await until(lambda: server.ended == 1)
        assert await hasty.exchange(GET) == TransportFailure(Outcome.AMBIGUOUS, "timeout")
    assert server.connections == 2


async def test_a_slot_handed_to_a_caller_cancelled_meanwhile_is_passed_on() -> None:
    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            await asyncio.sleep(0.2)
            writer.write(ok(request[1]))

    async with RawServer(slow_echo) as server, VendorHttp(limit_per_host=1) as http:
        t = transport(http, server.url, timeout_s=1.0)
        holder = asyncio.create_task(t.exchange(HttpRequest("POST", "/", body=b"a")))
        await until(lambda: server.connections == 1)
        queued = asyncio.create_task(t.exchange(HttpRequest("POST", "/", body=b"b")))
        await asyncio.sleep(0.01)
        # The holder's cancellation frees its slot for the queued caller; the
        # queued caller is cancelled before it runs to take it.
        holder.cancel()
        await asyncio.sleep(0)
        queued.cancel()
        for task in (holder, queued):
            with pytest.raises(asyncio.CancelledError):
                await task
        # The slot was not lost with them: with a limit of one, this would wait out its time.
        assert answer(await t.exchange(HttpRequest("POST", "/", body=b"c"))).body == b"c"


async def test_peer_reset_mid_answer_is_ambiguous_disconnected() -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async with RawServer(half) as server, VendorHttp() as http:
        t = transport(http, server.url)
        assert await t.exchange(GET) == TransportFailure(Outcome.AMBIGUOUS, "disconnected")
        assert server.connections == 1


async def test_garbage_answer_fails_and_its_connection_is_discarded() -> None:
    async def garbage_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = server.connections == 1
        while await read_request(reader) is not None:
            writer.write(b"SMTP ready\r\n\r\n" if first else ok(b"fine"))
        # The first connection: the client must have closed it.

    async with RawServer(garbage_first) as server, VendorHttp() as http:
        t = transport(http, server.url)
        assert await t.exchange(GET) == TransportFailure(Outcome.AMBIGUOUS, "transport_error")
        await until(lambda: server.ended == 1)
        assert answer(await t.exchange(GET)).body == b"fine"
    assert server.connections == 2


async def test_a_cancelled_exchange_never_leaks_its_answer_to_the_next() -> None:
    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            await asyncio.sleep(0.1)
            writer.write(ok(request[1]))

    async with RawServer(slow_echo) as server, VendorHttp() as http:
        t = transport(http, server.url)
        first = asyncio.create_task(t.exchange(HttpRequest("POST", "/", body=b"first")))
        await until(lambda: server.connections == 1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        second = answer(await t.exchange(HttpRequest("POST", "/", body=b"second")))
    assert second.body == b"second"
    assert server.connections == 2


async def test_nobody_listening_is_unreachable_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with VendorHttp() as http:
        t = transport(http, f"http://127.0.0.1:{port}")
        assert await t.exchange(GET) == TransportFailure(Outcome.UNREACHABLE, "connect_error")


async def test_unknown_host_is_unreachable_connect_error() -> None:
    async with VendorHttp() as http:
        t = transport(http, "http://no-such-host.invalid")
        assert await t.exchange(GET) == TransportFailure(Outcome.UNREACHABLE, "connect_error")


@contextmanager
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: Linux drops further SYNs, so connects hang."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs")
async def test_connect_that_hangs_is_unreachable_connect_timeout() -> None:
    with full_backlog() as port:
        await asyncio.sleep(0.05)  # the fillers' handshakes complete
        async with VendorHttp() as http:
            t = transport(http, f"http://127.0.0.1:{port}", connect_timeout_s=0.2, timeout_s=5)
            started = time.monotonic()
            result = await t.exchange(GET)
            elapsed = time.monotonic() - started
    assert result == TransportFailure(Outcome.UNREACHABLE, "connect_timeout")
    assert 0.19 <= elapsed < 1.0  # the connect time-out, not the total


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs")
async def test_connect_that_hangs_ends_within_timeout_s_too() -> None:
    with full_backlog() as port:
        await asyncio.sleep(0.05)
        async with VendorHttp() as http:
            t = transport(http, f"http://127.0.0.1:{port}", connect_timeout_s=5, timeout_s=0.3)
            started = time.monotonic()
            result = await t.exchange(GET)
            elapsed = time.monotonic() - started
    assert result == TransportFailure(Outcome.UNREACHABLE, "connect_timeout")
    assert 0.29 <= elapsed < 1.0  # the whole exchange's bound, below the connect's own


async def test_request_target_that_would_break_the_request_line_is_never_sent() -> None:
    async with RawServer(keep_alive_echo) as server, VendorHttp() as http:
        t = transport(http, server.url)
        for bad in ("a b", "a\r\nX-Evil: 1", "测"):
            result = await t.exchange(HttpRequest("GET", "/", query=bad))
            assert result == TransportFailure(Outcome.REQUEST_INVALID, "build_error")
    assert server.connections == 0


async def test_closing_the_client_closes_its_connections() -> None:
    async with RawServer(keep_alive_echo) as server:
        http = VendorHttp()
        t = transport(http, server.url)
        answer(await t.exchange(GET))
        await http.close()
        await until(lambda: server.ended == 1)
        assert await t.exchange(GET) == TransportFailure(Outcome.UNREACHABLE, "connect_error")
        with pytest.raises(RuntimeError):
            http.origin(server.url)


# -- https ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def self_signed_certificate(where: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for ``name`` (an address or a host name), in ``where``."""
    openssl = shutil.which("openssl")
    # Debian's openssl is on every image this project runs on (ca-certificates
    # needs it): a missing one is a broken machine, not a test to skip.
    assert openssl is not None, "the TLS tests need the openssl command: apt-get install openssl"
    cert, key = where / "cert.pem", where / "key.pem"
    # A fixed command line, no shell.
    subprocess.run(  # noqa: S603
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName={'IP' if name[0].isdigit() else 'DNS'}:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_server(self_signed: tuple[Path, Path]) -> AsyncIterator[tuple[str, list[str]]]:
    cert, key = self_signed
    peers: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        peers.append(str(request.transport.get_extra_info("peername")))
        return web.Response(body=b"secret " + await request.read(), content_type="text/plain")

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}", peers
    await runner.cleanup()


async def test_https_with_a_trusted_certificate(
    tls_server: tuple[str, list[str]], self_signed: tuple[Path, Path]
) -> None:
    url, peers = tls_server
    trust = ssl.create_default_context(cafile=str(self_signed[0]))
    async with VendorHttp(ssl_context=trust) as http:
        t = transport(http, url)
        for i in range(3):
            got = answer(await t.exchange(HttpRequest("POST", "/mt/", body=b"%d" % i)))
            assert got == HttpResponse(200, b"secret %d" % i, "text/plain")
    assert len(peers) == 3
    assert len(set(peers)) == 1


async def test_https_with_an_untrusted_certificate_is_a_refused_config_fault(
    tls_server: tuple[str, list[str]],
) -> None:
    url, peers = tls_server
    async with VendorHttp() as http:  # the system's CAs: they never signed it
        t = transport(http, url)
        # Not sent, and not an outage either: a wrong host or trust store of ours.
        assert await t.exchange(GET) == TransportFailure(Outcome.REFUSED, "tls_verify")
        origin, _ = http.origin(url)
        assert origin.open_connections == 0
    assert peers == []
