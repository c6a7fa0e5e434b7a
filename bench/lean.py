"""The baseline: a lean pass-through on smsproxy's own HTTP server and client.

The daemon's legacy port is an httptools server (:class:`proxy.http.server.HttpServer`) and its
vendor calls an httptools client (:class:`adapters.http.client.VendorHttp`).  This
pass-through runs the same two, with the daemon's limits (the same request
line and connection limits, 200 pooled connections to the vendor) on the
daemon's event loop, and does nothing else: every request goes on to the
vendor with its method, path, query, body and content type, and the
vendor's status, body and content type come back.  No parsing, no auth, no
routing, no records, no logs.  The gap between it and the daemon is what
smsproxy's own work costs; an aiohttp pass-through (:mod:`bench.passthrough`)
would run on a slower stack than the daemon's and flatter it.

Run: ``python -m bench.lean --upstream http://127.0.0.1:PORT [--port 0]``;
it prints one JSON line ``{"event": "listening", "port": N}`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from adapters.http.client import VendorHttp
from adapters.http.errors import ConnectError, HttpError
from adapters.http.origin import Origin
from proxy import event_loop
from proxy.http.limits import Limits
from proxy.http.messages import Answer, Request
from proxy.http.server import HttpServer

MAX_LINE = 256 * 1024  # the daemon's default legacy.max_body_bytes
CONNECT_TIMEOUT_S = 3.0  # a vendor's default connect_timeout_s
TIMEOUT_S = 10.0  # and timeout_s
CONTENT_TYPE = b"content-type"


class Forwarder:
    """The responder: one request in, the same request to the vendor, its answer back."""

    def __init__(self, origin: Origin, prefix: str) -> None:
        self.origin = origin
        self.prefix = prefix
        # A request's head depends on its method, path and content type only.
        self.heads: dict[tuple[str, str, bytes | None], bytes] = {}

    async def __call__(self, request: Request) -> Answer:
        ctype = request.headers.get(CONTENT_TYPE)
        if request.query:
            target = f"{self.prefix}{request.path}?{request.query.decode('latin-1')}"
            head = self.origin.head(request.method, target, _text(ctype))
        else:
            key = (request.method, request.path, ctype)
            head = self.heads.get(key) or self.heads.setdefault(
                key, self.origin.head(request.method, self.prefix + request.path, _text(ctype))
            )
        body = request.body
        if body or request.method != "GET":
            data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        else:
            data = head + b"\r\n"
        try:
            answer = await self.origin.request(data, CONNECT_TIMEOUT_S, TIMEOUT_S)
        except (ConnectError, HttpError):
            return Answer(502, b"upstream failed")
        ctype_out = answer.content_type.encode("latin-1") if answer.content_type else None
        return Answer(answer.status, answer.body, content_type=ctype_out)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


async def serve(host: str, port: int, upstream: str) -> None:
    async with VendorHttp() as http:
        origin, prefix = http.origin(upstream, use_env_proxy=False)
        legacy = HttpServer(
            Forwarder(origin, prefix),
            max_body_bytes=MAX_LINE,
            # As many connections as the bench's daemon takes ([http] max_connections).
            limits=Limits(max_connections=10_000),
            keep_headers=frozenset({CONTENT_TYPE}),
        )
        bound = await legacy.listen(host, port)
        print(json.dumps({"event": "listening", "port": bound}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await legacy.close(grace_s=1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lean")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="vendor base URL")
    args = parser.parse_args(argv)
    event_loop.run(serve(args.host, args.port, args.upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
