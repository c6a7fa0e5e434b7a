"""Reading requests off a connection: bytes to httptools, its callbacks to :class:`Request`.

:class:`RequestReader` is the reading half of :class:`proxy.http.connection.Connection`:
it caps the head as it arrives, reads a trusted balancer's PROXY header,
escapes raw 8-bit request lines, and assembles each request from
httptools' callbacks.  What it has read it hands to the answering half
(``_enqueue``), and an error or an oversize request it hands over to be
answered at once (``_fail``, ``_answer_early``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import httptools

from proxy.http.messages import Answer, Request
from proxy.http.proxy_header import ProxyHeaderError, read_proxy_header

if TYPE_CHECKING:
    from proxy.http.server import HttpServer

# A PROXY header is at most this long (v2 with its TLVs, bounded in proxy_header).
PROXY_HEADER_MAX = 16 + 1024

BAD_REQUEST = Answer(400, b"bad request")
HEAD_TOO_LARGE = Answer(431, b"request headers too large")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_NO_HEADERS: Mapping[bytes, bytes] = MappingProxyType({})


class RequestReader(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._remote = ""
        self._broken = False  # nothing more is read as HTTP: an error or an early answer is due
        self._proxy_header: bytes | None = None  # bytes of a PROXY header still being read
        # The request being read.
        self._in_message = False
        self._in_body = False
        self._line_read = False  # its request line is behind us
        self._started = 0.0  # when its head (or its body) began to arrive
        self._head_seen = 0
        self._url: list[bytes] = []
        self._url_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._oversize = False
        self._expects_continue = False
        self._continue_owed = False
        self._forwarded_for = b""
        self._headers: dict[bytes, bytes] | None = None

    # --- the answering half's (Connection) ------------------------------------------

    def close(self) -> None:
        raise NotImplementedError

    def _break(self) -> None:
        raise NotImplementedError

    def _fail(self, answer: Answer, reason: str) -> None:
        raise NotImplementedError

    def _enqueue(self, item: tuple[Request, bool, bool] | Answer) -> None:
        raise NotImplementedError

    def _send_continue(self) -> None:
        raise NotImplementedError

    # --- reading ------------------------------------------------------------------

    def _feed_head(self, data: bytes) -> None:
        # httptools keeps a header line until it ends, rebuilding it at every
        # read: a line that never ends costs memory and quadratic time.  So
        # the head is fed a slice at a time and capped as it arrives.  Bytes
        # of a body or of the next request that ride in the last slice go
        # uncounted: a head may reach twice the cap, never more.
        cap = self.server.limits.max_head_bytes
        while data:
            if self._in_body or self._broken:
                if not self._broken:
                    self._parser.feed_data(data)
                return
            room = cap - self._head_seen
            if room <= 0:
                self._fail(HEAD_TOO_LARGE, "head_too_large")
                return
            if len(data) <= room:
                self._head_seen += len(data)
                self._parser.feed_data(data)
                return
            piece, data = data[:room], data[room:]
            self._head_seen += room
            self._parser.feed_data(piece)

    def _escape_request_line(self, data: bytes) -> bytes:
        # llhttp refuses bytes above 0x7f in a URL; a client that writes GBK
        # unescaped means them percent-encoded, and the query is decoded so.
        start = len(data) - len(data.lstrip(b"\r\n"))
        end = data.find(b"\n", start)
        line = data[start:] if end < 0 else data[start:end]
        escaped = _HIGH_BYTE.sub(lambda m: b"%%%02X" % m.group()[0], line)
        return data[:start] + escaped + (b"" if end < 0 else data[end:])

    def _read_proxy_header(self, data: bytes) -> bytes:
        assert self._proxy_header is not None
        buffered = self._proxy_header + data
        try:
            header = read_proxy_header(buffered)
        except ProxyHeaderError:
            header = None
            buffered = b""
        if header is None:
            if buffered and len(buffered) < PROXY_HEADER_MAX:
                self._proxy_header = buffered
                return b""
            # A trusted proxy that sends no header is not the proxy we trust.
            self.server.refuse("proxy_header")
            self._proxy_header = None
            self._break()
            self.close()
            return b""
        self._proxy_header = None
        self._started = 0.0
        if header.source is not None:
            self._remote = header.source
        return buffered[header.length :]

    # --- httptools callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = []
        self._url_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._oversize = False
        self._expects_continue = False
        self._forwarded_for = b""
        self._headers = None

    def on_url(self, url: bytes) -> None:
        # The request line is not the head's to count: max_body_bytes bounds it.
        self._head_seen -= len(url)
        if self._oversize or self._broken:
            return
        self._url_bytes += len(url)
        self._url.append(url)
        if self._url_bytes > self.server.max_body_bytes:
            # The path, at its start, is kept to tell the endpoint; the query goes.
            self._oversize = True
            self._url = [b"".join(self._url)[: self.server.max_body_bytes]]
            self._answer_early()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._line_read = True
        if len(name) == 6 and name.lower() == b"expect" and value.lower() == b"100-continue":
            self._expects_continue = True
        elif len(name) == 14 and name.lower() == b"content-length":
            if value.isdigit() and int(value) > self.server.max_body_bytes:
                self._oversize = True
        elif len(name) == 15 and name.lower() == b"x-forwarded-for":
            self._forwarded_for = (
                self._forwarded_for + b"," + value if self._forwarded_for else value
            )
        keep = self.server.keep_headers
        if keep and name.lower() in keep:
            if self._headers is None:
                self._headers = {}
            self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        if self._broken:
            return
        self._line_read = True
        self._head_seen = 0
        self._in_body = True
        self._started = time.monotonic()
        if self._oversize:
            self._answer_early()  # a declared body too large is not waited for
            return
        if self._expects_continue and self._parser.get_http_version() == "1.1":
            self._continue_owed = True
            self._send_continue()

    def on_body(self, body: bytes) -> None:
        if self._oversize or self._broken:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.server.max_body_bytes:
            self._oversize = True
            self._body = []
            self._answer_early()
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._in_body = False
        self._line_read = False
        self._started = 0.0
        self._head_seen = 0
        self._continue_owed = False
        if self._broken:
            return
        # Read now: the parser has moved on by the time the request is answered.
        http10 = self._parser.get_http_version() == "1.0"
        request = self._request()
        if request is None:
            self._fail(BAD_REQUEST, "bad_request")
        else:
            self._enqueue((request, self._parser.should_keep_alive(), http10))

    def _request(self) -> Request | None:
        url = b"".join(self._url)
        if url[:1] != b"/" and url:
            # Absolute form (a client configured to go through an HTTP proxy);
            # CONNECT's authority form is not a request we serve.
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                return None
            path, query = parsed.path or b"/", parsed.query or b""
        else:
            path, _, query = url.partition(b"?")
        if self._oversize:
            query = b""
        remote = self._remote
        if self._forwarded_for and self.server.limits.trusted_proxies:
            remote = self.server.limits.client_of(remote, self._forwarded_for)
        request = Request(
            self._parser.get_method().decode("ascii"),
            path.decode("latin-1"),
            query,
            b"".join(self._body),
            remote,
            self._oversize,
            _NO_HEADERS if self._headers is None else MappingProxyType(self._headers),
        )
        self._url = []
        self._body = []
        return request

    def _answer_early(self) -> None:
        """Too large: answer now and stop reading; the client is not waited for."""
        self._break()
        request = self._request()
        self._enqueue(BAD_REQUEST if request is None else (request, False, False))
