"""The legacy port's HTTP/1.1 server, byte by byte over real sockets."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from proxy.http.limits import Limits
from proxy.http.messages import Answer, Request
from proxy.http.server import HttpServer

LIMIT = 1024


class Recorder:
    """A responder that keeps every request and echoes it back."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.finished: list[str] = []
        self.delay: dict[str, float] = {}

    async def __call__(self, request: Request) -> Answer:
        self.requests.append(request)
        await asyncio.sleep(self.delay.get(request.path, 0))
        self.finished.append(request.path)
        flag = b" oversize" if request.oversize else b""
        body = b"%s %s ?%s [%s]%s" % (
            request.method.encode(),
            request.path.encode(),
            request.query,
            request.body,
            flag,
        )
        return Answer(200, body)


@pytest.fixture
async def served() -> AsyncIterator[tuple[HttpServer, Recorder, int]]:
    recorder = Recorder()
    server = HttpServer(recorder, max_body_bytes=LIMIT, limits=Limits(keepalive_s=0.3))
    port = await server.listen("127.0.0.1", 0)
    yield server, recorder, port
    await server.close(1.0)


Opened = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status.encode(), headers, body


async def exchange(port: int, raw: bytes, answers: int = 1) -> list[tuple[bytes, bytes]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    out = []
    for _ in range(answers):
        status, _, body = await read_answer(reader)
        out.append((status, body))
    writer.close()
    return out


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 5) == b""


async def test_an_answer_is_bare_gbk_text_with_its_length(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /mt/?cpid=a&x=%E4 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await read_answer(reader)
    assert status == b"HTTP/1.1 200 OK"
    assert headers["content-type"] == "text/plain; charset=gbk"
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", headers["date"])
    assert "connection" not in headers
    assert body == b"GET /mt/ ?cpid=a&x=%E4 []"
    writer.close()


async def test_keep_alive_serves_many_requests_on_one_connection(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, recorder, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(3):
        writer.write(b"GET /mt/?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        _, _, body = await read_answer(reader)
        assert body == b"GET /mt/ ?n=%d []" % i
    assert len({r.remote for r in recorder.requests}) == 1
    assert recorder.requests[0].remote == "127.0.0.1"
    writer.close()


async def test_pipelined_requests_are_answered_in_order(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, recorder, port = served
    recorder.delay["/slow"] = 0.2
    raw = b"".join(b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % p for p in (b"slow", b"a", b"b"))
    answers = await exchange(port, raw, answers=3)
    assert [body.split(b" ")[1] for _, body in answers] == [b"/slow", b"/a", b"/b"]


async def test_http_1_0_closes_after_its_answer(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /mt/ HTTP/1.0\r\n\r\n")
    _, headers, _ = await read_answer(reader)
    assert headers["connection"] == "close"
    assert await closed_by_server(reader)


async def test_connection_close_is_honoured(served: tuple[HttpServer, Recorder, int]) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /mt/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    _, headers, _ = await read_answer(reader)
    assert headers["connection"] == "close"
    assert await closed_by_server(reader)


async def test_post_bodies_plain_chunked_and_after_100_continue(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, _, port = served
    plain = b"POST /mt/ HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\nphone=1"
    chunked = (
        b"POST /mt/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nmsg\r\n5\r\ntext=\r\n2\r\nhi\r\n0\r\n\r\n"
    )
    answers = await exchange(port, plain + chunked, answers=2)
    assert [body for _, body in answers] == [b"POST /mt/ ? [phone=1]", b"POST /mt/ ? [msgtext=hi]"]

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /mt/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"ok")
    _, _, body = await read_answer(reader)
    assert body == b"POST /mt/ ? [ok]"
    writer.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_beyond_the_limit_is_answered_at_once_and_the_connection_closes(
    served: tuple[HttpServer, Recorder, int], chunked: bool
) -> None:
    _, recorder, port = served
    big = b"x" * (LIMIT + 1)
    if chunked:
        first = b"POST /mt/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        first += b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
    else:
        first = b"POST /mt/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)
    second = b"GET /mo/?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first + second)
    status, headers, body = await read_answer(reader)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"POST /mt/ ? [] oversize")
    assert headers["connection"] == "close"
    assert await closed_by_server(reader)
    assert [r.path for r in recorder.requests] == ["/mt/"]
    assert recorder.requests[0].body == b""
    writer.close()


async def test_a_declared_body_beyond_the_limit_is_not_waited_for(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /mt/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nab")
    status, headers, body = await read_answer(reader)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"POST /mt/ ? [] oversize")
    assert headers["connection"] == "close"
    writer.close()


async def test_a_request_line_beyond_the_limit_keeps_its_path_only(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, _, port = served
    raw = b"GET /mt/?phone=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (b"1" * LIMIT)
    [(status, body)] = await exchange(port, raw)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"GET /mt/ ? [] oversize")


async def test_an_absolute_url_is_read_for_its_path_and_query(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, _, port = served
    raw = b"GET http://sms.example.com/mt/?a=1 HTTP/1.1\r\nHost: sms.example.com\r\n\r\n"
    assert await exchange(port, raw) == [(b"HTTP/1.1 200 OK", b"GET /mt/ ?a=1 []")]


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /mt/ HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"CONNECT sms.example.com:443 HTTP/1.1\r\nHost: sms.example.com:443\r\n\r\n",
    ],
    ids=["garbage", "bad-length", "connect"],
)
async def test_what_is_not_an_esms100_request_gets_400_and_a_close(
    served: tuple[HttpServer, Recorder, int], raw: bytes
) -> None:
    _, recorder, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    status, headers, _ = await read_answer(reader)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert headers["connection"] == "close"
    assert await closed_by_server(reader)
    assert recorder.requests == []


async def test_an_upgrade_is_ignored_and_the_connection_closes_after_the_answer(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /mt/?a=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    status, headers, body = await read_answer(reader)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"GET /mt/ ?a=1 []")
    assert headers["connection"] == "close"
    assert await closed_by_server(reader)


async def test_a_good_request_before_a_bad_one_is_answered_first(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, _, port = served
    raw = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP\r\n\r\n"
    answers = await exchange(port, raw, answers=2)
    assert [status for status, _ in answers] == [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request"]


async def test_an_idle_connection_is_closed(served: tuple[HttpServer, Recorder, int]) -> None:
    server, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /mt/ HTTP/1.1\r\nHost: x\r\n\r\n")
    await read_answer(reader)
    assert await closed_by_server(reader)  # keepalive_s is 0.3 here
    assert "connections=0" in repr(server)


async def test_a_client_that_hangs_up_does_not_cancel_its_request(
    served: tuple[HttpServer, Recorder, int],
) -> None:
    _, recorder, port = served
    recorder.delay["/mt/"] = 0.2
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /mt/ HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()
    await asyncio.sleep(0.4)
    assert recorder.finished == ["/mt/"]


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_close_finishes_requests_in_flight_and_refuses_new_connections() -> None:
    recorder = Recorder()
    recorder.delay["/slow"] = 0.3
    recorder.delay["/stuck"] = 60
    server = HttpServer(recorder, max_body_bytes=LIMIT)
    port = await server.listen("127.0.0.1", 0)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
    stuck_reader, stuck_writer = await asyncio.open_connection("127.0.0.1", port)
    slow_writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    stuck_writer.write(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
    await wait_for(lambda: len(recorder.requests) == 2)

    closing: Awaitable[None] = asyncio.create_task(server.close(grace_s=0.6))
    assert await closed_by_server(idle_reader)
    status, headers, body = await read_answer(slow_reader)
    assert (status, body) == (b"HTTP/1.1 200 OK", b"GET /slow ? []")
    assert headers["connection"] == "close"
    await closing
    assert await closed_by_server(stuck_reader)  # cancelled at the end of the grace
    assert recorder.finished == ["/slow"]
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    for writer in (idle_writer, slow_writer, stuck_writer):
        writer.close()
