"""An answer's status line and headers, as the server writes them."""

from __future__ import annotations

import time
from email.utils import formatdate

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


class Heads:
    """One port's answer heads: its content type, and a ``Date`` cached for the second."""

    def __init__(self, content_type: bytes) -> None:
        self.content_type = content_type
        self._date = b""
        self._date_second = 0

    def __repr__(self) -> str:
        return f"<Heads content_type={self.content_type!r}>"

    def of(
        self,
        status: int,
        length: int,
        keep_alive: bool,
        http10: bool = False,
        content_type: bytes | None = None,
        extra: bytes = b"",
    ) -> bytes:
        second = int(time.time())
        if second != self._date_second:  # formatting a date costs more than the rest of a head
            self._date = formatdate(second, usegmt=True).encode("ascii")
            self._date_second = second
        if not keep_alive:
            connection = b"Connection: close\r\n"
        else:
            # HTTP/1.0 closes unless told otherwise, even when it asked to keep alive.
            connection = b"Connection: keep-alive\r\n" if http10 else b""
        return (
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n%s%s\r\n"
            % (
                status,
                _REASONS.get(status, b""),
                content_type or self.content_type,
                length,
                self._date,
                connection,
                extra,
            )
        )
