"""The admin API on the admin port, behind a bearer token (``admin.token``).

``GET  /admin/vendors``                  every vendor: state, why, time left, balance, price
``POST /admin/vendors/{name}/drain``     stop routing to a vendor until enabled
``POST /admin/vendors/{name}/enable``    route to it again, forgetting what it had learnt
``POST /admin/reload``                   re-read the config file (also on SIGHUP)
``GET  /admin/unresolved``               recipients a vendor may have but never confirmed
``POST /admin/clients/{cpid}/password/reset``  drop the client's /ent/ password: the
                                         configured one works again, on every daemon

Also behind the token: ``GET /reports/unmatched`` (:mod:`proxy.ingest.inspect`).
``/metrics``, ``/healthz`` and ``/readyz`` are open, for Prometheus and load
balancers.  Without a configured token the API answers 404: it does not exist.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from adapters.client import wall_ms
from proxy.keys import LEGACY_APP, LIVE, RELOADER, STORE
from routing.router import VendorRuntime

OPEN = frozenset({"/metrics", "/healthz", "/readyz"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def bearer_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in OPEN:
        return await handler(request)
    token = request.app[LEGACY_APP][LIVE].settings.admin.token
    if token is None:
        return web.json_response(
            {"error": "the admin API is off: set admin.token in the config"}, status=404
        )
    offered = request.headers.get("Authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        return web.json_response(
            {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return await handler(request)


def describe(vendor: VendorRuntime) -> dict[str, object]:
    h = vendor.health
    return {
        "name": vendor.name,
        "kind": vendor.client.adapter.kind,
        "state": h.state.value,
        "reason": h.reason,
        "seconds_left": round(h.seconds_left(), 1) if h.seconds_left() != float("inf") else None,
        "held_by_operator": h.held,
        "balance_segments": h.balance_segments,
        "price_per_segment": vendor.price_per_segment,
        "consecutive_failures": h.consecutive_failures,
        "latency_ms": None if h.latency_ewma_s is None else round(h.latency_ewma_s * 1000, 1),
    }


def _vendor(request: web.Request) -> VendorRuntime:
    router = request.app[LEGACY_APP][LIVE].engine.router
    vendor = router.vendors.get(request.match_info["name"])
    if vendor is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no vendor {request.match_info['name']!r}"}),
            content_type="application/json",
        )
    return vendor


async def list_vendors(request: web.Request) -> web.Response:
    router = request.app[LEGACY_APP][LIVE].engine.router
    return web.json_response({"vendors": [describe(v) for v in router.vendors.values()]})


async def drain(request: web.Request) -> web.Response:
    vendor = _vendor(request)
    vendor.health.hold()
    return web.json_response(describe(vendor))


async def enable(request: web.Request) -> web.Response:
    vendor = _vendor(request)
    vendor.health.release()
    return web.json_response(describe(vendor))


async def reload(request: web.Request) -> web.Response:
    outcome = await request.app[LEGACY_APP][RELOADER].reload()
    return web.json_response(outcome.as_json(), status=200 if outcome.ok else 400)


UNRESOLVED_SHOWN = 100


async def list_unresolved(request: web.Request) -> web.Response:
    """Recipients left in flight by a crash or without a clear answer, newest first.

    Each stays out of a client's retries (answered -17) until a delivery
    report from its vendor resolves it or ``routing.unresolved_expire_s``
    passes; no number or text is shown beyond what routing needs.
    """
    legacy = request.app[LEGACY_APP]
    routing = legacy[LIVE].settings.routing
    now = wall_ms()
    expire_ms = int(min(routing.unresolved_expire_s, routing.dedup_window_s) * 1000)
    count, records = await legacy[STORE].unresolved(now - expire_ms, UNRESOLVED_SHOWN)
    return web.json_response(
        {
            "count": count,
            "expire_s": expire_ms / 1000,
            "unresolved": [
                {
                    "send_id": r.send_id,
                    "client": r.cpid,
                    "vendor": r.vendor,
                    "phone": r.phone,
                    "state": r.outcome,
                    "code": r.vendor_code,
                    "age_s": round((now - r.created_ms) / 1000, 1),
                    "expires_in_s": round((r.created_ms + expire_ms - now) / 1000, 1),
                }
                for r in records
            ],
        }
    )


async def reset_password(request: web.Request) -> web.Response:
    cpid = request.match_info["cpid"]
    dropped = await request.app[LEGACY_APP][LIVE].engine.clients.reset_password(cpid)
    if dropped is None:
        return web.json_response({"error": f"no client {cpid!r}"}, status=404)
    return web.json_response({"client": cpid, "ent_password_dropped": dropped})


def admin_routes() -> list[web.RouteDef]:
    return [
        web.get("/admin/vendors", list_vendors),
        web.post("/admin/vendors/{name}/drain", drain),
        web.post("/admin/vendors/{name}/enable", enable),
        web.post("/admin/reload", reload),
        web.get("/admin/unresolved", list_unresolved),
        web.post("/admin/clients/{cpid}/password/reset", reset_password),
    ]
