"""On the admin port: what the inbox holds, and the reports that matched no send.

``GET /reports/unmatched`` answers JSON: the inbox counts by kind and state
(``reports.unmatched`` among them) and the newest unmatched reports, with
the vendor's raw status, for an operator to look into.  The port has no
authentication yet, so numbers are shown masked (``138****8000``); the
state file has them whole.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from proxy.keys import LEGACY_APP, STORE

SHOWN = 100


def mask(phone: str) -> str:
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


async def unmatched(request: web.Request) -> web.Response:
    legacy = request.app[LEGACY_APP]
    if STORE not in legacy:
        return web.json_response({"error": "not ready"}, status=503)
    store = legacy[STORE]
    rows = await store.unmatched_reports(SHOWN)
    return web.json_response(
        {
            "counts": await store.inbox_counts(),
            "unmatched": [
                {
                    "vendor": r.account,
                    "phone": mask(r.phone),
                    "message_id": r.message_id,
                    "status": r.status,
                    "raw_status": r.raw_status,
                    "received": datetime.fromtimestamp(r.received_ms / 1000, UTC).isoformat(),
                }
                for r in rows
            ],
        }
    )


def admin_routes() -> list[web.RouteDef]:
    return [web.get("/reports/unmatched", unmatched)]
