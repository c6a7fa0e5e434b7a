"""What a hostile network gets from the HTTP server, byte by byte over real sockets."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator
from ipaddress import ip_network

import pytest

from proxy.http.limits import Limits
from proxy.http.messages import Answer
from proxy.http.server import HttpServer
from tests.unit.test_http_server import LIMIT, Recorder, closed_by_server, read_answer

FAST = Limits(
    max_head_bytes=4096,
    head_timeout_s=0.4,
    body_timeout_s=0.4,
    keepalive_s=0.4,
    max_connections=8,
    trusted_proxies=(ip_network("127.0.0.0/8"),),
)


class Served:
    def __init__(self, server: HttpServer, recorder: Recorder, port: int) -> None:
        self.server, self.recorder, self.port = server, recorder, port
        self.refusals: list[str] = []

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


async def serve(limits: Limits) -> tuple[HttpServer, Served]:
    recorder = Recorder()
    refusals: list[str] = []
    server = HttpServer(
        recorder,
        max_body_bytes=LIMIT,
        limits=limits,
        busy=Answer(503, b"-15"),
        on_refusal=refusals.append,
    )
    port = await server.listen("127.0.0.1", 0)
    served = Served(server, recorder, port)
    served.refusals = refusals
    return server, served


@pytest.fixture
async def fast() -> AsyncIterator[Served]:
    server, served = await serve(FAST)
    yield served
    await server.close(1.0)


@pytest.fixture
async def proxied() -> AsyncIterator[Served]:
    server, served = await serve(Limits(**{**FAST.__dict__, "proxy_protocol": True}))
    yield served
    await server.close(1.0)


async def test_an_endless_header_is_refused_while_it_arrives(fast: Served) -> None:
    reader, writer = await fast.open()
    writer.write(b"GET /mt/ HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    answer: asyncio.Task[tuple[bytes, dict[str, str], bytes]] = asyncio.create_task(
        read_answer(reader)
    )
    sent = 0
    while not answer.done() and sent < 4 * 1024 * 1024:
        try:
            writer.write(b"y" * 65536)
            await writer.drain()
            await asyncio.sleep(0.005)
        except ConnectionError:
            break
        sent += 65536
    status, headers, _ = await answer
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["connection"] == "close"
    assert sent < 2 * 1024 * 1024  # refused at the cap, not once the line ended
    assert fast.refusals == ["head_too_large"]
    assert fast.recorder.requests == []
    writer.close()


async def test_a_long_request_line_does_not_count_against_the_head_cap(fast: Served) -> None:
    reader, writer = await fast.open()
    query = b"phone=" + b"1" * (LIMIT - 100)
    assert len(query) > FAST.max_head_bytes // 8
    writer.write(b"GET /mt/?%s HTTP/1.1\r\nHost: x\r\n\r\n" % query)
    status, _, body = await read_answer(reader)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"GET /mt/ ?%s []" % query)
    writer.close()


async def test_a_head_that_trickles_in_is_answered_408(fast: Served) -> None:
    reader, writer = await fast.open()
    started = time.monotonic()
    answer = asyncio.create_task(read_answer(reader))
    for byte in b"GET /mt/ HTTP/1.1\r\nHost: x\r\nX-Slow: yyyyyyyyyyyyyyyyyy":
        if answer.done():
            break
        writer.write(bytes([byte]))
        await asyncio.sleep(0.05)
    status, headers, _ = await answer
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert headers["connection"] == "close"
    assert time.monotonic() - started < 2.0
    assert fast.refusals == ["head_timeout"]
    assert await closed_by_server(reader)
    writer.close()


async def test_a_body_that_trickles_in_is_answered_408(fast: Served) -> None:
    reader, writer = await fast.open()
    writer.write(b"POST /mt/ HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nphone=1")
    status, _, _ = await read_answer(reader)
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert fast.refusals == ["body_timeout"]
    assert fast.recorder.requests == []
    writer.close()


async def test_a_connection_that_never_speaks_is_closed(fast: Served) -> None:
    reader, writer = await fast.open()
    assert await closed_by_server(reader)
    assert fast.server.connections == 0
    writer.close()


async def test_beyond_the_connection_cap_a_new_connection_is_answered_503(fast: Served) -> None:
    held = [await fast.open() for _ in range(FAST.max_connections)]
    for _, writer in held:  # each one served once, kept alive
        writer.write(b"GET /mt/ HTTP/1.1\r\nHost: x\r\n\r\n")
    for reader, _ in held:
        await read_answer(reader)
    reader, writer = await fast.open()
    status, headers, body = await read_answer(reader)
    assert (status, body) == (b"HTTP/1.1 503 Service Unavailable", b"-15")
    assert headers["retry-after"] == "1"
    assert fast.refusals == ["connections"]
    assert await closed_by_server(reader)
    writer.close()
    held[0][1].close()
    await asyncio.sleep(0.1)
    reader, writer = await fast.open()  # a slot freed is a slot taken
    writer.write(b"GET /mt/ HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = await read_answer(reader)
    assert status == b"HTTP/1.1 200 OK"
    for _, w in [*held[1:], (reader, writer)]:
        w.close()


async def test_an_error_answer_reaches_a_client_that_is_still_writing(fast: Served) -> None:
    reader, writer = await fast.open()
    # The garbage and what follows it arrive together: closing at once with
    # unread bytes would reset the connection and lose the answer.
    writer.write(b"NOT HTTP\r\n\r\n" + b"z" * 200_000)
    status, _, _ = await read_answer(reader)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert await closed_by_server(reader)
    writer.close()


async def test_100_continue_waits_for_the_answer_pipelined_ahead_of_it(fast: Served) -> None:
    fast.recorder.delay["/slow"] = 0.3
    reader, writer = await fast.open()
    writer.write(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /mt/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    )
    status, _, body = await read_answer(reader)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"GET /slow ? []")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"ok")
    _, _, body = await read_answer(reader)
    assert body == b"POST /mt/ ? [ok]"
    writer.close()


async def test_an_http_1_0_client_gets_no_100_continue(fast: Served) -> None:
    reader, writer = await fast.open()
    writer.write(b"POST /mt/ HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    await asyncio.sleep(0.1)
    writer.write(b"ok")
    status, _, body = await read_answer(reader)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"POST /mt/ ? [ok]")
    writer.close()


async def test_http_1_0_keep_alive_is_answered_keep_alive_and_kept(fast: Served) -> None:
    reader, writer = await fast.open()
    for n in range(2):
        writer.write(b"GET /mt/?n=%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % n)
        _, headers, body = await read_answer(reader)
        assert headers["connection"] == "keep-alive"
        assert body == b"GET /mt/ ?n=%d []" % n
    writer.close()


async def test_raw_8_bit_bytes_in_the_query_are_taken_as_percent_encoded(fast: Served) -> None:
    reader, writer = await fast.open()
    # 测试 in GBK, written into the URL unescaped, as some older clients do.
    writer.write(b"GET /mt/?msgtext=\xb2\xe2\xca\xd4&phone=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = await read_answer(reader)
    assert status == b"HTTP/1.1 200 OK"
    assert fast.recorder.requests[0].query == b"msgtext=%B2%E2%CA%D4&phone=1"
    writer.close()


def proxy_v2(source: str, port: int) -> bytes:
    octets = bytes(int(p) for p in source.split("."))
    addresses = octets + bytes([127, 0, 0, 1]) + struct.pack("!HH", port, 8080)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", 12) + addresses


@pytest.mark.parametrize(
    "header",
    [b"PROXY TCP4 203.0.113.9 127.0.0.1 40000 8080\r\n", proxy_v2("203.0.113.9", 40000)],
    ids=["v1", "v2"],
)
async def test_a_trusted_balancer_s_proxy_header_names_the_client(
    proxied: Served, header: bytes
) -> None:
    reader, writer = await proxied.open()
    writer.write(
        header + b"GET /mt/ HTTP/1.1\r\nHost: x\r\n\r\nGET /mo/ HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    for _ in range(2):
        status, _, _ = await read_answer(reader)
        assert status == b"HTTP/1.1 200 OK"
    assert [r.remote for r in proxied.recorder.requests] == ["203.0.113.9"] * 2
    writer.close()


async def test_a_trusted_peer_without_a_proxy_header_is_closed(proxied: Served) -> None:
    reader, writer = await proxied.open()
    writer.write(b"GET /mt/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await closed_by_server(reader)
    assert proxied.recorder.requests == []
    assert proxied.refusals == ["proxy_header"]
    writer.close()


async def test_a_proxy_header_from_an_untrusted_peer_is_not_believed() -> None:
    limits = Limits(**{**FAST.__dict__, "proxy_protocol": True, "trusted_proxies": ()})
    server, served = await serve(limits)
    try:
        reader, writer = await served.open()
        writer.write(b"PROXY TCP4 203.0.113.9 127.0.0.1 1 2\r\nGET /mt/ HTTP/1.1\r\n\r\n")
        status, _, _ = await read_answer(reader)
        assert status == b"HTTP/1.1 400 Bad Request"
        assert served.recorder.requests == []
        writer.close()
    finally:
        await server.close(1.0)


@pytest.mark.parametrize(
    ("trusted", "forwarded", "client"),
    [
        ("127.0.0.0/8", b"198.51.100.7", "198.51.100.7"),
        ("127.0.0.0/8", b"6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client forged one
        ("127.0.0.0/8, 10.0.0.0/8", b"198.51.100.7, 10.1.2.3", "198.51.100.7"),
        ("10.0.0.0/8", b"198.51.100.7", "127.0.0.1"),  # the peer is not trusted
        ("127.0.0.0/8", b"garbage", "127.0.0.1"),
    ],
)
async def test_x_forwarded_for_is_believed_from_trusted_hops_only(
    trusted: str, forwarded: bytes, client: str
) -> None:
    networks = tuple(ip_network(n.strip()) for n in trusted.split(","))
    server, served = await serve(Limits(**{**FAST.__dict__, "trusted_proxies": networks}))
    try:
        reader, writer = await served.open()
        writer.write(b"GET /mt/ HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n\r\n" % forwarded)
        await read_answer(reader)
        assert [r.remote for r in served.recorder.requests] == [client]
        writer.close()
    finally:
        await server.close(1.0)
