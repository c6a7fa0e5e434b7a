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
``push_refused`` (one line per vendor and reason each 10 s, so a flood
of forgeries does not flood the log) and never stored.  The token is a
path segment, which is why this port keeps no access log.

The port is served by :mod:`proxy.http`, with the legacy port's
limits; its client is the peer, or who a trusted proxy says it is, which
is what ``push_allowed_ips`` is checked against.

The order is the point: parse, write to the store, then answer the
vendor's success (sms10000's ``SUCCESS``, chuanglan's ``0``, sms.cn's
``100``).  If the write fails the vendor gets HTTP 503 and pushes again;
if the daemon dies before answering, the vendor pushes again and the
inbox's keys make the second copy a no-op.
"""

from __future__ import annotations

import time

import structlog

from adapters.base import Adapter, PushResult
from core.send import HttpRequest, HttpResponse
from proxy.http.messages import Answer, Request
from proxy.http.routes import Params, Routes
from proxy.ingest.accounts import Account
from proxy.ingest.push_auth import PushGate, PushRefusal, warn_unprotected
from proxy.ingest.service import Ingest
from proxy.state import DaemonState

log = structlog.get_logger("smsproxy.push")

MAX_PUSH_BYTES = 2 * 1024 * 1024
RETRY_LATER = HttpResponse(503, b"retry later", "text/plain")
UNKNOWN_VENDOR = Answer(404, b"unknown vendor\n")
REFUSALS_LOGGED_EVERY_S = 10.0


def _answer(answer: HttpResponse) -> Answer:
    return Answer(answer.status, answer.body, None, answer.content_type.encode("latin-1"))


def incoming(request: Request) -> HttpRequest:
    """A push as the sans-io codecs want it."""
    content_type = request.headers.get(b"content-type", b"").decode("latin-1")
    return HttpRequest(
        "POST" if request.method == "POST" else "GET",
        request.path,
        request.query.decode("latin-1"),
        request.body,
        content_type.partition(";")[0].strip().lower() or None,
        request.remote,
    )


class PushPort:
    """``/push/{vendor}[/{token}]`` over the daemon's live engine."""

    def __init__(self, state: DaemonState) -> None:
        self.state = state
        self.routes = Routes()
        self.routes.add("*", "/push/{vendor}", self.receive)
        self.routes.add("*", "/push/{vendor}/{token}", self.receive)
        # (vendor, reason) -> (refusals not yet logged, when last logged)
        self._refusals: dict[tuple[str, PushRefusal], tuple[int, float]] = {}

    def __repr__(self) -> str:
        return f"<PushPort {self.routes!r}>"

    def warn_unprotected(self) -> None:
        warn_unprotected(self.state.settings.vendors)

    async def receive(self, request: Request, params: Params) -> Answer:
        name = params["vendor"]
        live = self.state.live
        # The engine is taken once: a reload meanwhile does not split the push.
        ingest = live.engine.ingest if live.started else None
        target = ingest.push_target(name) if ingest is not None else None
        if ingest is None or target is None:
            return UNKNOWN_VENDOR
        account, adapter = target
        vendor = next(v for v in ingest.settings.vendors if v.name == name)
        gate = PushGate.of(vendor, adapter)
        if gate is None:
            return UNKNOWN_VENDOR
        refused = gate.admit(params.get("token"), request.remote)
        if refused is None:
            result = _read(request, adapter, name)
            refused = gate.judge(result)
            if refused is None:
                return await _store(ingest, account, result, name)
        self.state.metrics.push_refused(name, refused.reason)
        self._log_refusal(name, refused.reason, refused.answer.status, request.remote)
        return _answer(refused.answer)

    def _log_refusal(self, vendor: str, reason: PushRefusal, status: int, remote: str) -> None:
        unlogged, logged_at = self._refusals.get((vendor, reason), (0, 0.0))
        now = time.monotonic()
        if now - logged_at < REFUSALS_LOGGED_EVERY_S:
            self._refusals[(vendor, reason)] = (unlogged + 1, logged_at)
            return
        self._refusals[(vendor, reason)] = (0, now)
        log.warning(
            "push_refused",
            vendor=vendor,
            reason=reason.value,
            status=status,
            remote=remote,
            since_last_line=unlogged,
        )


async def _store(ingest: Ingest, account: Account, result: PushResult, name: str) -> Answer:
    try:
        await ingest.take(account, result.reports, result.replies)
    except Exception:
        log.exception("push_store_failed", vendor=name)
        return _answer(RETRY_LATER)
    return _answer(result.answer)


def _read(request: Request, adapter: Adapter, name: str) -> PushResult:
    try:
        return adapter.parse_push(incoming(request))
    except Exception:  # parse_push must not raise; if it does, the vendor may retry
        log.exception("push_parse_failed", vendor=name)
        return PushResult(answer=HttpResponse(400, b"bad request", "text/plain"), accepted=False)
