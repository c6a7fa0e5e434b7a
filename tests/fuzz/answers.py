"""Reading the daemon's answers off a connection, strictly.

Every answer the legacy port writes is ``HTTP/1.1``, with one
``Content-Length`` and a body of exactly that length (none to a ``HEAD``);
anything else is a fault of the daemon, reported as :class:`BadAnswer`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

_STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*")
MAX_HEAD = 64 * 1024


class BadAnswer(Exception):
    """Bytes from the daemon that are not an HTTP answer."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]  # names lower-cased
    body: bytes

    def header(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n == name]

    @property
    def closes(self) -> bool:
        return any(v.strip().lower() == b"close" for v in self.header(b"connection"))

    def __str__(self) -> str:
        return f"{self.status} {self.body[:200]!r}"


async def read_answer(reader: asyncio.StreamReader, head_only: bool) -> Answer | None:
    """The next answer; None at a clean end of the connection before its first byte."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as cut:
        if cut.partial:
            raise BadAnswer(f"the connection ended within a head: {cut.partial[:300]!r}") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadAnswer("a head beyond 64 KiB") from None
    lines = head[:-4].split(b"\r\n")
    status_line = _STATUS_LINE.fullmatch(lines[0])
    if status_line is None:
        raise BadAnswer(f"not a status line: {lines[0][:300]!r}")
    status = int(status_line[1])
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise BadAnswer(f"not a header line: {line[:300]!r}")
        headers.append((name.lower(), value.strip()))
    answer = Answer(status, tuple(headers), b"")
    if 100 <= status < 200:
        return answer  # an interim answer has no body
    lengths = answer.header(b"content-length")
    if len(lengths) != 1 or not lengths[0].isdigit():
        raise BadAnswer(f"Content-Length {lengths!r} in {head[:300]!r}")
    if head_only and not answer.closes:
        return answer
    if head_only:
        # An error that ends a HEAD request it could not read (400, 408)
        # may come with its body: the connection ends after it either way.
        rest = b""
        while len(rest) <= int(lengths[0]):
            more = await reader.read(int(lengths[0]) + 1 - len(rest))
            if not more:
                break
            rest += more
        if rest and len(rest) != int(lengths[0]):
            raise BadAnswer(f"{len(rest)} bytes after the answer to a HEAD: {rest[:300]!r}")
        return Answer(status, answer.headers, rest)
    try:
        body = await reader.readexactly(int(lengths[0]))
    except asyncio.IncompleteReadError as cut:
        raise BadAnswer(f"a body cut short: {cut.partial[:300]!r} in {head[:300]!r}") from None
    return Answer(status, answer.headers, body)
