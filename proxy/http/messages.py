"""What a port's responder takes (a :class:`Request`) and gives (an :class:`Answer`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol


class Request(NamedTuple):
    method: str
    path: str
    query: bytes  # exactly as sent, still percent-encoded
    body: bytes
    remote: str  # the client: the peer, or who a trusted proxy says it is
    oversize: bool  # the request line or body went beyond max_body_bytes: both dropped
    # The headers the server was asked to keep (``keep_headers``), by lower-case name.
    headers: Mapping[bytes, bytes] = MappingProxyType({})


class HandOut(Protocol):
    """What an answer takes out of a queue (reports, replies) for its client."""

    async def writing(self) -> None:
        """The answer is about to be written: from now on it counts as delivered."""
        ...

    async def settle(self, written: bool) -> None:
        """Written, what it took is gone; not (the client hung up), it goes back."""
        ...


class Answer(NamedTuple):
    status: int
    body: bytes
    hand_out: HandOut | None = None
    content_type: bytes | None = None  # None: the server's
    headers: bytes = b""  # more header lines, each ending in CRLF


Responder = Callable[[Request], Awaitable[Answer]]
