"""Just enough HTTP/1.1 framing for the bench's stub vendor and load generator.

Messages are framed by ``Content-Length`` only: the daemon, the
pass-throughs and Kannel send a length with every body they build, and the
load generator sends one with every POST.  A chunked message is refused
loudly rather than misread.  Standard library only, so the processes that
use it start fast.
"""

from __future__ import annotations


class ProtocolError(Exception):
    pass


class MessageReader:
    """Split a byte stream into complete ``(head, body)`` messages."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[bytes, bytes]] = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            length = content_length(head)
            start = end + 4
            if len(buf) - start < length:
                break
            out.append((head, buf[start : start + length]))
            buf = buf[start + length :]
        self._buf = buf
        return out


def content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        if b"\r\ntransfer-encoding:" in lower:
            raise ProtocolError("chunked messages are not supported")
        return 0
    line_end = lower.find(b"\r\n", at + 2)
    value = lower[at + 17 : line_end if line_end >= 0 else len(lower)]
    return int(value.strip())


def status_of(head: bytes) -> int:
    """The status code of a response head."""
    return int(head[9:12])


def response(body: bytes, status: int = 200, content_type: bytes = b"text/plain") -> bytes:
    reason = b"OK" if status == 200 else b"Not Found" if status == 404 else b"Error"
    return b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        reason,
        content_type,
        len(body),
        body,
    )
