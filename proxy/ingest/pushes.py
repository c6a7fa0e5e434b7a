"""Receive what vendors push: ``/push/{vendor name}[/{token}]`` on the push port.

Register ``http://<push address>/push/<name>`` with each pushing vendor,
``<name>`` being the vendor's ``name`` in the config, or
``.../push/<name>/<push_token>`` when the vendor has a ``push_token``:
chuanglan for status reports and replies (GET), sms10000 for its XML
pushes, sms.cn for reply pushes.  Vendors that push nothing (esms100, c123)
answer 404 there, as does a name not configured.

Every push is authenticated first (:mod:`proxy.ingest.push_auth`: source
address, token, then the account or secret the push carries); a refused
one gets the vendor's failure answer, is counted in
``smsproxy_pushes_refused_total{vendor,reason}``, logged as
``push_refused`` and never stored.  The token is a path segment, which is
why this application keeps no access log.

The order is the point: parse, write to the store, then answer the
vendor's success (sms10000's ``SUCCESS``, chuanglan's ``0``, sms.cn's
``100``).  If the write fails the vendor gets HTTP 503 and pushes again;
if the daemon dies before answering, the vendor pushes again and the
inbox's keys make the second copy a no-op.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from adapters.base import Adapter, HttpResponse, PushResult
from adapters.http_in import incoming
from proxy.ingest.accounts import Account
from proxy.ingest.push_auth import PushGate, warn_unprotected
from proxy.ingest.service import Ingest
from proxy.keys import LEGACY_APP, LIVE, METRICS

log = structlog.get_logger("smsproxy.push")

MAX_PUSH_BYTES = 2 * 1024 * 1024
RETRY_LATER = HttpResponse(503, b"retry later", "text/plain")


def _answer(answer: HttpResponse) -> web.Response:
    content_type = answer.content_type.partition(";")[0].strip() or None
    return web.Response(status=answer.status, body=answer.body, content_type=content_type)


async def receive(request: web.Request) -> web.Response:
    name = request.match_info["vendor"]
    legacy = request.app[LEGACY_APP]
    live = legacy[LIVE]
    ingest = live.engine.ingest if live.started else None
    target = ingest.push_target(name) if ingest is not None else None
    if ingest is None or target is None:
        return web.Response(status=404, text="unknown vendor\n")
    account, adapter = target
    vendor = next(v for v in ingest.settings.vendors if v.name == name)
    gate = PushGate.of(vendor, adapter)
    if gate is None:
        return web.Response(status=404, text="unknown vendor\n")
    remote = request.remote or ""
    refused = gate.admit(request.match_info.get("token"), remote)
    if refused is None:
        result = await _read(request, adapter, name)
        refused = gate.judge(result)
        if refused is None:
            return await _store(ingest, account, result, name)
    legacy[METRICS].push_refused(name, refused.reason)
    log.warning(
        "push_refused",
        vendor=name,
        reason=refused.reason.value,
        status=refused.answer.status,
        remote=remote,
    )
    return _answer(refused.answer)


async def _store(ingest: Ingest, account: Account, result: PushResult, name: str) -> web.Response:
    try:
        await ingest.take(account, result.reports, result.replies)
    except Exception:
        log.exception("push_store_failed", vendor=name)
        return _answer(RETRY_LATER)
    return _answer(result.answer)


async def _read(request: web.Request, adapter: Adapter, name: str) -> PushResult:
    pushed = await incoming(request, MAX_PUSH_BYTES + 1)
    try:
        return adapter.parse_push(pushed)
    except Exception:  # parse_push must not raise; if it does, the vendor may retry
        log.exception("push_parse_failed", vendor=name)
        return PushResult(answer=HttpResponse(400, b"bad request", "text/plain"), accepted=False)


def build_push_app(legacy: web.Application) -> web.Application:
    app = web.Application(client_max_size=MAX_PUSH_BYTES)
    app[LEGACY_APP] = legacy
    app.add_routes(
        [
            web.route("*", "/push/{vendor}", receive),
            web.route("*", "/push/{vendor}/{token}", receive),
        ]
    )
    app.on_startup.append(_warn_unprotected)
    return app


async def _warn_unprotected(app: web.Application) -> None:
    warn_unprotected(app[LEGACY_APP][LIVE].settings.vendors)
