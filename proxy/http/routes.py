"""Paths to handlers, for the admin and push ports.

Both are served by :class:`proxy.http.server.HttpServer`, the server the
legacy port uses, so one set of limits (head cap, time-outs, connection cap, trusted
proxies) guards all three ports.  They need little routing: a handful of
fixed paths with a ``{name}`` segment or two.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import unquote

import structlog

from proxy.http.messages import Answer, Request

log = structlog.get_logger("smsproxy.http.routes")

Params = Mapping[str, str]
Handler = Callable[[Request, Params], Awaitable[Answer]]

JSON = b"application/json"


def json_answer(data: object, status: int = 200, headers: bytes = b"") -> Answer:
    return Answer(status, json.dumps(data, ensure_ascii=False).encode(), None, JSON, headers)


class Routes:
    def __init__(self) -> None:
        self._routes: list[tuple[str, list[str], Handler]] = []

    def __repr__(self) -> str:
        return f"<Routes {[f'{m} /' + '/'.join(p) for m, p, _ in self._routes]}>"

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """``method`` is GET, POST or ``*``; ``pattern`` a path with ``{name}`` segments."""
        self._routes.append((method, pattern.split("/")[1:], handler))

    async def respond(self, request: Request) -> Answer:
        if request.oversize:
            return json_answer({"error": "request too large"}, 413)
        segments = request.path.split("/")[1:]
        path_known = False
        for method, parts, handler in self._routes:
            params = _match(parts, segments)
            if params is None:
                continue
            path_known = True
            if method != "*" and method != request.method:
                continue
            try:
                return await handler(request, params)
            except Exception:
                # A fault of ours, not of the request: logged with its traceback,
                # answered "try again" (a vendor pushes again), never a trace.
                log.exception("handler_failed", path=request.path)
                return json_answer({"error": "internal error, logged; try again"}, 503)
        if path_known:
            return json_answer({"error": "method not allowed"}, 405)
        return json_answer({"error": "not found"}, 404)


def _match(parts: list[str], segments: list[str]) -> dict[str, str] | None:
    if len(parts) != len(segments):
        return None
    params = {}
    for part, segment in zip(parts, segments, strict=True):
        if part.startswith("{") and part.endswith("}"):
            if not segment:
                return None
            params[part[1:-1]] = unquote(segment)
        elif part != segment:
            return None
    return params
