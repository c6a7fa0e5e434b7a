"""The esms100-compatible endpoints legacy clients call.

Every answer is HTTP 200 with a GBK plain-text body exactly as esms100
gives it; failures are esms100 codes, never a stack trace or a 500.
Codes (from ``esms100.txt``) and when we answer them:

``-1``  unknown cpid, wrong cppwd, or a caller address the client's
        ``allowed_ips`` do not include
``-2``  cpid missing (or unreadable); ``-3`` cppwd missing; ``-4`` msgtext
        missing; ``-5`` phone missing
``-7``  text longer than ``legacy.max_text_chars``
``-8``  more than ``legacy.max_numbers`` numbers, or a body larger than
        ``legacy.max_body_bytes`` (only too many numbers can make a send that big)
``-10`` the client's quota is spent, or no vendor had money for it
``-11`` every vendor refused the content
``-15`` faster than the client's ``rate_per_s``, or every vendor asked us to slow down
``-16`` no valid number
``-17`` no vendor answered in time
``-110`` anything unexpected (logged with a traceback, never shown)
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from adapters.esms100 import wire
from adapters.esms100.wire import ReplyRecord, ReportLine
from adapters.http_in import raw_query
from proxy.clients import Client
from proxy.keys import LIVE, METRICS, STORE
from proxy.numbers import normalise

log = structlog.get_logger("smsproxy.legacy")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REPORTS_PER_POLL = 200
REPLIES_PER_POLL = 100


def answer(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/plain", charset="gbk")


def code(value: int) -> web.Response:
    return answer(wire.encode_code(value))


class Refused(Exception):
    """Stop handling a request and answer this esms100 code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@web.middleware
async def esms100_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as refused:
        return code(refused.code)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected_error", path=request.path)
        return code(-110)


_ENDPOINT_OF = {p: p.strip("/") for p in ("/mt/", "/mo/", "/qamount/", "/qreport/", "/ent/")}
_ENDPOINT_OF.update({p.rstrip("/"): e for p, e in list(_ENDPOINT_OF.items())})


def _answer_code(body: bytes) -> str:
    """The esms100 code an answer carries: a negative first line, else success."""
    head = body[:12].split(b"\n", 1)[0]
    return head.decode("ascii") if head.startswith(b"-") else "0"


@web.middleware
async def legacy_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    endpoint = _ENDPOINT_OF.get(request.path)
    if endpoint is None:
        return await handler(request)
    metrics = request.app[METRICS]
    started = time.perf_counter()
    in_flight = endpoint == "mt"
    if in_flight:
        metrics.sends_in_flight.inc()
    try:
        response = await handler(request)
    finally:
        if in_flight:
            metrics.sends_in_flight.dec()
    body = response.body if isinstance(response, web.Response) else b""
    code = _answer_code(body if isinstance(body, bytes) else b"")
    metrics.legacy_request(endpoint, code, time.perf_counter() - started)
    return response


async def read_params(request: web.Request) -> wire.Params:
    limit = request.app[LIVE].settings.legacy.max_body_bytes
    query = raw_query(request)
    body = b""
    if request.method == "POST" and request.can_read_body:
        if (request.content_length or 0) > limit:
            raise Refused(-8)
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            raise Refused(-8)
    return wire.decode_params(query, body)


async def authenticate(request: web.Request, params: wire.Params) -> Client:
    cpid, cppwd = params.get("cpid"), params.get("cppwd")
    if cpid is None:
        raise Refused(-2)
    if cppwd is None:
        raise Refused(-3)
    client = await request.app[LIVE].engine.clients.verify(cpid, cppwd, request.remote)
    if client is None:
        log.info("auth_failed", cpid=cpid[:64], remote=request.remote)
        raise Refused(-1)
    structlog.contextvars.bind_contextvars(client=client.cpid)
    if not await client.take_request():
        raise Refused(-15)
    return client


async def mt(request: web.Request) -> web.Response:
    # Admission before the body is read: a send waiting here costs a few
    # hundred bytes, one being handled tens of kilobytes; beyond the vendors'
    # connection pools more concurrency only queues inside.
    async with request.app[LIVE].engine.admission:
        return await _mt(request)


async def _mt(request: web.Request) -> web.Response:
    params = await read_params(request)
    client = await authenticate(request, params)
    text, phone = params.get("msgtext"), params.get("phone")
    if text is None:
        raise Refused(-4)
    if phone is None:
        raise Refused(-5)
    engine = request.app[LIVE].engine
    limits = engine.settings.legacy
    if len(text) > limits.max_text_chars:
        raise Refused(-7)
    recipients = normalise(phone)
    if recipients.given > limits.max_numbers:
        raise Refused(-8)
    if not recipients.valid:
        raise Refused(-16)
    send_id = secrets.token_hex(8)  # a uuid4 costs twice as much for nothing more
    structlog.contextvars.bind_contextvars(send_id=send_id)
    if recipients.invalid:
        log.info("invalid_numbers_dropped", count=len(recipients.invalid))
    result = await engine.sender.send(client, send_id, recipients.valid, text)
    return code(result)


async def qamount(request: web.Request) -> web.Response:
    client = await authenticate(request, await read_params(request))
    quota = client.settings.quota
    if quota is not None:
        used = await request.app[STORE].quota_used(client.cpid)
        return code(max(0, quota - used))
    # Without a quota of its own, the client can send what the vendors' money buys.
    balances = [v.balance_segments or 0 for v in request.app[LIVE].engine.router.snapshot()]
    return code(sum(balances))


async def qreport(request: web.Request) -> web.Response:
    client = await authenticate(request, await read_params(request))
    queued = await request.app[STORE].take_reports(client.cpid, REPORTS_PER_POLL)
    return answer(wire.encode_reports(ReportLine(r.sent_at, r.phone, r.status) for r in queued))


async def mo(request: web.Request) -> web.Response:
    client = await authenticate(request, await read_params(request))
    queued = await request.app[STORE].take_replies(client.cpid, REPLIES_PER_POLL)
    return answer(wire.encode_replies(ReplyRecord(r.received_at, r.phone, r.text) for r in queued))


async def ent(request: web.Request) -> web.Response:
    """Change the password.  esms100 answers only ``0`` or ``-1`` here."""
    params = await read_params(request)
    cpid, oldpwd, newpwd = params.get("cpid"), params.get("oldpwd"), params.get("newpwd")
    if cpid is None or oldpwd is None or newpwd is None or len(newpwd) > 20:
        return code(-1)
    book = request.app[LIVE].engine.clients
    client = await book.verify(cpid, oldpwd, request.remote)
    if client is None:
        return code(-1)
    await book.change_password(client, newpwd)
    log.info("password_changed", client=client.cpid)
    return code(0)


def legacy_routes() -> list[web.RouteDef]:
    routes: list[web.RouteDef] = []
    for path, handler in (
        ("/mt/", mt),
        ("/qamount/", qamount),
        ("/qreport/", qreport),
        ("/mo/", mo),
        ("/ent/", ent),
    ):
        bare = path.rstrip("/")
        routes += [
            web.get(path, handler),
            web.post(path, handler),
            web.get(bare, handler),
            web.post(bare, handler),
        ]
    return routes
