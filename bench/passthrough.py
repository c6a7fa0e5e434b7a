"""The baseline: a bare aiohttp server that forwards every request to one vendor.

It does what any Python HTTP proxy must do and nothing else: accept the
request, read its body, send it on with the same method, path, query and
content type over a pooled aiohttp client session, and hand back the
vendor's status and body.  No parsing, no auth, no routing, no records, no
logs.  Its server and connection-pool settings are the daemon's own
(``access_log=None``, the same line-size limit, ``limit_per_host=200``), so
the gap between the two is what smsproxy's work costs.

Run: ``python -m bench.passthrough --upstream http://127.0.0.1:PORT [--port 0]``;
it prints one JSON line ``{"event": "listening", "port": N}`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from yarl import URL

from proxy import event_loop

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
MAX_LINE = 256 * 1024  # the daemon's default legacy.max_body_bytes


async def forward(request: web.Request) -> web.Response:
    body = await request.read()
    ctype = request.headers.get("Content-Type")
    try:
        async with request.app[SESSION].request(
            request.method,
            URL(request.app[UPSTREAM] + request.raw_path, encoded=True),
            data=body or None,
            headers={"Content-Type": ctype} if ctype else None,
            allow_redirects=False,
        ) as resp:
            answer = await resp.read()
            status = resp.status
            answer_type = resp.headers.get("Content-Type", "text/plain")
    except (aiohttp.ClientError, TimeoutError):
        return web.Response(status=502, body=b"upstream failed")
    return web.Response(status=status, body=answer, headers={"Content-Type": answer_type})


async def session_ctx(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=200, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=13.0, sock_connect=3.0),
    ) as session:
        app[SESSION] = session
        yield


def build_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=MAX_LINE)
    app[UPSTREAM] = upstream.rstrip("/")
    app.router.add_route("*", "/{tail:.*}", forward)
    app.cleanup_ctx.append(session_ctx)
    return app


async def serve(host: str, port: int, upstream: str) -> None:
    runner = web.AppRunner(
        build_app(upstream),
        access_log=None,
        shutdown_timeout=1.0,
        max_line_size=MAX_LINE,
        max_field_size=16 * 1024,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = int(runner.addresses[-1][1])
    print(json.dumps({"event": "listening", "port": bound}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.passthrough")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="vendor base URL")
    args = parser.parse_args(argv)
    # The daemon's own loop: the baseline differs from it only in what it does.
    event_loop.run(serve(args.host, args.port, args.upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
