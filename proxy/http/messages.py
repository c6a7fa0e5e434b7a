"""What a port's responder takes (a :class:`Request`) and gives (an :class:`Answer`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple


class Request(NamedTuple):
    method: str
    path: str
    query: bytes  # exactly as sent, still percent-encoded
    body: bytes
    remote: str  # the client: the peer, or who a trusted proxy says it is
    oversize: bool  # the request line or body went beyond max_body_bytes: both dropped
    # The headers the server was asked to keep (``keep_headers``), by lower-case name.
    headers: Mapping[bytes, bytes] = MappingProxyType({})


class Answer(NamedTuple):
    status: int
    body: bytes
    # Called before the answer is written, told whether the client's
    # connection is still open: what the request took (reports, replies)
    # goes back if it is not, and is forgotten if it is.
    settle: Callable[[bool], Awaitable[None]] | None = None
    content_type: bytes | None = None  # None: the server's
    headers: bytes = b""  # more header lines, each ending in CRLF


Responder = Callable[[Request], Awaitable[Answer]]
