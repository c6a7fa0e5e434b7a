"""The CONNECT handshake that opens a tunnel through an HTTP proxy, as bytes in and out.

No sockets here: :mod:`adapters.http.origin` writes :func:`connect_request` to
the proxy and feeds what comes back to :class:`ConnectAnswer` until it
has the proxy's final status.  A 2xx makes the connection a tunnel to the
vendor (with no body, RFC 9110 section 9.3.6); any other status is the
proxy's refusal, and nothing has reached the vendor.
"""

from __future__ import annotations

import re

# A proxy's answer head is a status line and a few headers.
MAX_HEAD_BYTES = 16 * 1024
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?\r?")


class TunnelError(ValueError):
    """The proxy's answer to CONNECT is not HTTP we accept."""


def authority(host: str, port: int) -> str:
    """``host:port`` as a request target or Host header writes it (v6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_request(host: str, port: int, authorization: bytes | None) -> bytes:
    """``CONNECT host:port``; ``authorization`` is the whole Proxy-Authorization value."""
    target = authority(host, port)
    if not target.isascii() or not target.isprintable() or " " in target:
        raise ValueError("a CONNECT target is one word of ASCII")
    head = b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n" % ((target.encode("ascii"),) * 2)
    if authorization is not None:
        head += b"Proxy-Authorization: " + authorization + b"\r\n"
    return head + b"User-Agent: smsproxy\r\n\r\n"


class ConnectAnswer:
    """A proxy's answer to CONNECT, read up to the end of its head."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> tuple[int, bytes] | None:
        """The final status and the bytes after its head; None until the head is in.

        Interim (1xx) answers are skipped.  Raises :class:`TunnelError` for an
        answer that is not HTTP/1, or a head over :data:`MAX_HEAD_BYTES`.
        """
        self._buffer += data
        while True:
            end, gap = _head_end(self._buffer)
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise TunnelError(f"the proxy's answer head is over {MAX_HEAD_BYTES} bytes")
                return None
            head, self._buffer = self._buffer[:end], self._buffer[end + gap :]
            line = head.split(b"\n", 1)[0]
            match = _STATUS_LINE.fullmatch(line)
            if match is None:
                raise TunnelError("the proxy's answer to CONNECT is not an HTTP/1 status line")
            status = int(match.group(1))
            if status >= 200:
                rest, self._buffer = self._buffer, b""
                return status, rest


def _head_end(buffer: bytes) -> tuple[int, int]:
    """Where the head's blank line starts and how long it is; (-1, 0) when not yet in."""
    crlf = buffer.find(b"\r\n\r\n")
    lf = buffer.find(b"\n\n")
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2
    return (crlf, 4) if crlf >= 0 else (-1, 0)
