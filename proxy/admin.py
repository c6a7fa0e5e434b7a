"""The admin API on the admin port, behind a bearer token (``admin.token``).

``GET  /admin/vendors``                  every vendor: state, why, time left, balance, price;
                                         with several daemons on one Redis, the cluster's
                                         view: which daemon saw each state, and when, and
                                         which checked the balance
``POST /admin/vendors/{name}/drain``     stop routing to a vendor until enabled (on
                                         every daemon sharing the Redis, across restarts)
``POST /admin/vendors/{name}/enable``    route to it again, forgetting what it had learnt
``POST /admin/reload``                   re-read the config file (also on SIGHUP)
``GET  /admin/unresolved``               recipients a vendor may have but never confirmed
``POST /admin/clients/{cpid}/password/reset``  drop the client's /ent/ password: the
                                         configured one works again, on every daemon

Also behind the token: ``GET /reports/unmatched`` (:mod:`proxy.ingest.inspect`).
``/metrics``, ``/healthz`` and ``/readyz`` are open, for Prometheus and load
balancers.  Without a configured token the API answers 404: it does not exist.

The port is served by :mod:`proxy.http`, with the legacy port's limits.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from adapters.client import VendorClient, wall_ms
from proxy.http.messages import Answer, Request
from proxy.http.routes import Handler, Params, Routes, json_answer
from proxy.ingest.inspect import unmatched
from proxy.ingest.lease import name_of
from proxy.state import DaemonState
from proxy.vendor_snapshot import VendorSnapshot, snapshot, vendor_snapshot
from routing.knowledge import Seen
from routing.router import VendorRuntime

UNRESOLVED_SHOWN = 100
RECENT_SHOWN = 10  # a vendor's last shared changes, in the cluster's view
UNAUTHORIZED = json_answer({"error": "unauthorized"}, 401, b"WWW-Authenticate: Bearer\r\n")
API_OFF = json_answer({"error": "the admin API is off: set admin.token in the config"}, 404)


def describe(vendor: VendorSnapshot) -> dict[str, object]:
    left = vendor.seconds_left
    latency = vendor.latency_s
    return {
        "name": vendor.name,
        "kind": vendor.kind,
        "state": vendor.state.value,
        "reason": vendor.reason,
        "seconds_left": round(left, 1) if left != float("inf") else None,
        "held_by_operator": vendor.held,
        "balance_segments": vendor.balance_segments,
        "price_per_segment": vendor.price_per_segment,
        "consecutive_failures": vendor.consecutive_failures,
        "latency_ms": None if latency is None else round(latency * 1000, 1),
        "seen": seen(vendor.seen),
        "held_by": seen(vendor.hold_seen),
        "balance_checked_by": seen(vendor.balance_seen),
    }


def seen(what: Seen | None) -> dict[str, str] | None:
    """Which daemon saw it (the process, and its name, which outlives restarts), and
    when (UTC)."""
    if what is None:
        return None
    return {"daemon": what.daemon, "name": name_of(what.daemon), "at": utc(what.at_ms)}


def utc(ms: int) -> str:
    at = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return at.replace("+00:00", "Z")


class AdminPort:
    """The admin port's endpoints over the daemon's state."""

    def __init__(self, state: DaemonState) -> None:
        self.state = state
        self.routes = Routes()
        add, guarded = self.routes.add, self._behind_token
        add("GET", "/healthz", self.healthz)
        add("GET", "/readyz", self.readyz)
        add("GET", "/metrics", self.metrics)
        add("GET", "/admin/vendors", guarded(self.list_vendors))
        add("POST", "/admin/vendors/{name}/drain", guarded(self.drain))
        add("POST", "/admin/vendors/{name}/enable", guarded(self.enable))
        add("POST", "/admin/reload", guarded(self.reload))
        add("GET", "/admin/unresolved", guarded(self.list_unresolved))
        add("POST", "/admin/clients/{cpid}/password/reset", guarded(self.reset_password))
        add("GET", "/reports/unmatched", guarded(self.unmatched))

    def __repr__(self) -> str:
        return f"<AdminPort {self.routes!r}>"

    def _behind_token(self, handler: Handler) -> Handler:
        async def guarded(request: Request, params: Params) -> Answer:
            token = self.state.settings.admin.token
            if token is None:
                return API_OFF
            offered = request.headers.get(b"authorization", b"")
            expected = b"Bearer " + token.get_secret_value().encode()
            if not hmac.compare_digest(offered, expected):
                return UNAUTHORIZED
            return await handler(request, params)

        return guarded

    # --- open: Prometheus and load balancers ------------------------------------

    async def healthz(self, request: Request, params: Params) -> Answer:
        return Answer(200, b"ok\n")

    async def readyz(self, request: Request, params: Params) -> Answer:
        live = self.state.live
        store_ok = self.state.opened and await self.state.store.ping()
        routable = live.started and live.engine.router.any_routable()
        status = 200 if store_ok and routable else 503
        return json_answer({"store": store_ok, "vendor_routable": routable}, status)

    async def metrics(self, request: Request, params: Params) -> Answer:
        body = generate_latest(self.state.metrics.registry)
        return Answer(200, body, None, CONTENT_TYPE_LATEST.encode("ascii"))

    # --- behind the token ---------------------------------------------------------

    def _vendor(self, name: str) -> VendorRuntime[VendorClient] | None:
        return self.state.engine.router.vendors.get(name)

    async def list_vendors(self, request: Request, params: Params) -> Answer:
        vendors = [describe(v) for v in snapshot(self.state.engine.router)]
        states = self.state.store.vendor_states if self.state.opened else None
        if states is not None:
            try:
                for vendor in vendors:
                    recent = await states.recent(str(vendor["name"]), RECENT_SHOWN)
                    for event in recent:
                        event["at"] = utc(int(str(event.pop("at_ms"))))
                    vendor["recent"] = recent
            except Exception as exc:  # the view this daemon has still answers
                for vendor in vendors:
                    vendor["recent"] = None
                return json_answer(
                    {
                        "daemon": self.state.daemon_id,
                        "daemon_name": name_of(self.state.daemon_id),
                        "vendors": vendors,
                        "error": f"the store did not answer: {type(exc).__name__}",
                    }
                )
        daemon = self.state.daemon_id
        return json_answer({"daemon": daemon, "daemon_name": name_of(daemon), "vendors": vendors})

    async def drain(self, request: Request, params: Params) -> Answer:
        return await self._operate(params["name"], hold=True)

    async def enable(self, request: Request, params: Params) -> Answer:
        return await self._operate(params["name"], hold=False)

    async def _operate(self, name: str, hold: bool) -> Answer:
        vendor = self._vendor(name)
        if vendor is None:
            return json_answer({"error": f"no vendor {name!r}"}, 404)
        if hold:
            vendor.health.hold()
        else:
            vendor.health.release()
        knowledge = self.state.knowledge
        if knowledge is not None:
            try:
                await knowledge.flush(name)
            except Exception as exc:
                # Kept here and tried again; the operator must know the others wait.
                what = "drained" if hold else "enabled"
                return json_answer(
                    {
                        "error": f"{what} on this daemon only, for now: the store did not"
                        f" take it ({type(exc).__name__}); it is tried again every second",
                        **describe(vendor_snapshot(vendor)),
                    },
                    503,
                )
        return json_answer(describe(vendor_snapshot(vendor)))

    async def reload(self, request: Request, params: Params) -> Answer:
        outcome = await self.state.reloader.reload()
        return json_answer(outcome.as_json(), 200 if outcome.ok else 400)

    async def list_unresolved(self, request: Request, params: Params) -> Answer:
        """Recipients left in flight by a crash or without a clear answer, newest first.

        Each stays out of a client's retries (answered -17) until a delivery
        report from its vendor resolves it or ``routing.unresolved_expire_s``
        passes; no number or text is shown beyond what routing needs.
        """
        routing = self.state.settings.routing
        now = wall_ms()
        expire_ms = int(min(routing.unresolved_expire_s, routing.dedup_window_s) * 1000)
        count, records = await self.state.store.sends.unresolved(now - expire_ms, UNRESOLVED_SHOWN)
        return json_answer(
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

    async def reset_password(self, request: Request, params: Params) -> Answer:
        cpid = params["cpid"]
        dropped = await self.state.engine.clients.reset_password(cpid)
        if dropped is None:
            return json_answer({"error": f"no client {cpid!r}"}, 404)
        return json_answer({"client": cpid, "ent_password_dropped": dropped})

    async def unmatched(self, request: Request, params: Params) -> Answer:
        if not self.state.opened:
            return json_answer({"error": "not ready"}, 503)
        return json_answer(await unmatched(self.state.store))
