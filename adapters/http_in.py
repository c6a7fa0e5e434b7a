"""Requests arriving over aiohttp, as the sans-io codecs want them: for the simulators.

The daemon serves HTTP with its own server (:mod:`proxy.http`) and
imports no aiohttp (``[tool.importlinter]`` in ``pyproject.toml``).
"""

from __future__ import annotations

from aiohttp import web

from core.send import HttpRequest


def raw_query(request: web.Request) -> bytes:
    """The query exactly as sent.

    ``request.query_string`` is already half-decoded (``+`` became a space),
    which would corrupt GBK and UTF-8 text alike.
    """
    return request.raw_path.partition("?")[2].encode("latin-1", errors="replace")


async def incoming(request: web.Request, max_body: int = 1024 * 1024) -> HttpRequest:
    body = await _body(request, max_body) if request.can_read_body else b""
    return HttpRequest(
        "POST" if request.method == "POST" else "GET",
        request.path,
        raw_query(request).decode("latin-1"),
        body,
        request.content_type,
        request.remote or "",
    )


async def _body(request: web.Request, max_body: int) -> bytes:
    """The body up to ``max_body`` bytes: one ``read(n)`` returns only what has arrived."""
    chunks: list[bytes] = []
    size = 0
    while size < max_body:
        chunk = await request.content.read(max_body - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
