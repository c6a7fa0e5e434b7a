"""Requests arriving over aiohttp, as the sans-io codecs want them."""

from __future__ import annotations

from aiohttp import web

from adapters.base import HttpRequest


def raw_query(request: web.Request) -> bytes:
    """The query exactly as sent.

    ``request.query_string`` is already half-decoded (``+`` became a space),
    which would corrupt GBK and UTF-8 text alike.
    """
    return request.raw_path.partition("?")[2].encode("latin-1", errors="replace")


async def incoming(request: web.Request, max_body: int = 1024 * 1024) -> HttpRequest:
    body = await request.content.read(max_body) if request.can_read_body else b""
    return HttpRequest(
        "POST" if request.method == "POST" else "GET",
        request.path,
        raw_query(request).decode("latin-1"),
        body,
        request.content_type,
        request.remote or "",
    )
