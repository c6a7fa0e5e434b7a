"""Receive what vendors push: ``/push/{vendor name}`` on the push port.

Register ``http://<push address>/push/<name>`` with each pushing vendor,
``<name>`` being the vendor's ``name`` in the config: chuanglan for status
reports and replies (GET; ``receiver``/``pswd`` are checked by the adapter
when configured), sms10000 for its XML pushes, sms.cn for reply pushes.
Vendors that push nothing (esms100, c123) answer 404 there, as does a name
not configured.

The order is the point: parse, write to the store, then answer the
vendor's success (sms10000's ``SUCCESS``, chuanglan's ``0``, sms.cn's
``100``).  If the write fails the vendor gets HTTP 503 and pushes again;
if the daemon dies before answering, the vendor pushes again and the
inbox's keys make the second copy a no-op.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from adapters.base import HttpResponse, PushResult
from adapters.http_in import incoming
from proxy.keys import LEGACY_APP, LIVE

log = structlog.get_logger("smsproxy.push")

MAX_PUSH_BYTES = 2 * 1024 * 1024
RETRY_LATER = HttpResponse(503, b"retry later", "text/plain")


def _answer(answer: HttpResponse) -> web.Response:
    content_type = answer.content_type.partition(";")[0].strip() or None
    return web.Response(status=answer.status, body=answer.body, content_type=content_type)


async def receive(request: web.Request) -> web.Response:
    name = request.match_info["vendor"]
    live = request.app[LEGACY_APP][LIVE]
    ingest = live.engine.ingest if live.started else None
    target = ingest.push_target(name) if ingest is not None else None
    if ingest is None or target is None:
        return web.Response(status=404, text="unknown vendor\n")
    account, adapter = target
    pushed = await incoming(request, MAX_PUSH_BYTES + 1)
    try:
        result = adapter.parse_push(pushed)
    except Exception:  # parse_push must not raise; if it does, the vendor may retry
        log.exception("push_parse_failed", vendor=name)
        result = PushResult(answer=HttpResponse(400, b"bad request", "text/plain"), accepted=False)
    if not result.accepted:
        log.warning("push_refused", vendor=name, status=result.answer.status, remote=pushed.remote)
        return _answer(result.answer)
    try:
        await ingest.take(account, result.reports, result.replies)
    except Exception:
        log.exception("push_store_failed", vendor=name)
        return _answer(RETRY_LATER)
    return _answer(result.answer)


def build_push_app(legacy: web.Application) -> web.Application:
    app = web.Application(client_max_size=MAX_PUSH_BYTES)
    app[LEGACY_APP] = legacy
    app.add_routes([web.route("*", "/push/{vendor}", receive)])
    return app
