"""The esms100-compatible endpoints legacy clients call.

Every answer is HTTP 200 with a GBK plain-text body exactly as esms100
gives it; failures are esms100 codes, never a stack trace or a 500.  (An
unknown path is 404, a method other than GET or POST 405, and a request
that is not HTTP 400.)  :mod:`proxy.http` serves them.
Codes (from ``esms100.txt``) and when we answer them:

``-1``  unknown cpid, wrong cppwd, or a caller address the client's
        ``allowed_ips`` do not include
``-2``  cpid missing (or unreadable); ``-3`` cppwd missing; ``-4`` msgtext
        missing; ``-5`` phone missing
``-7``  text longer than ``legacy.max_text_chars``
``-8``  more than ``legacy.max_numbers`` numbers, or a request line or body
        larger than ``legacy.max_body_bytes`` (256 KiB by default: a thousand
        numbers and a text take a twentieth of it)
``-9``  (esms100's 账户无效或暂停使用, account suspended) the caller's address,
        or the cpid, is locked out after too many failed logins (``[login]``,
        :mod:`proxy.login_throttle`); the password is not looked at
``-10`` the client's quota is spent, or no vendor had money for it
``-11`` every vendor refused the content
``-15`` faster than the client's ``rate_per_s``, or every vendor asked us to slow down;
        and, at once and unsent, a send while the daemon is busy: the client
        has ``legacy.max_sends_in_flight_per_client`` sends under way or
        waiting, or ``legacy.max_sends_waiting`` (all clients) wait for a turn
        (see :mod:`proxy.admission`); and, unsent, any request whose store
        call waited out the store's connection pool (:class:`~proxy.store.base.StoreBusy`:
        a burst of retries while Redis is slow)
``-16`` no valid number
``-17`` no vendor answered in time
``-110`` anything unexpected (logged with a traceback, never shown)

``/ent/`` answers only ``0`` or ``-1``, as esms100 documents: ``-1`` also
during a lock-out, for a new password outside its rules and for a request
beyond ``legacy.max_body_bytes`` (:meth:`Legacy.ent`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple
from zoneinfo import ZoneInfo

import structlog

from adapters.esms100 import wire
from adapters.esms100.wire import ReplyRecord, ReportLine
from core.busy import StoreBusy
from proxy.admission import Busy
from proxy.clients import Client, PasswordChangeUnknown
from proxy.engine import Engine
from proxy.held_batch import HeldBatch
from proxy.http.messages import Answer, Request
from proxy.login_throttle import LockedOut
from proxy.numbers import normalise
from proxy.passwords import new_password_problem
from proxy.state import DaemonState
from proxy.store.queues import HoldReceipt, QueueKind

log = structlog.get_logger("smsproxy.legacy")

REPORTS_PER_POLL = 200
REPLIES_PER_POLL = 100
# A batch taken for a client is held, not forgotten, until its answer is
# about to be written; a daemon that dies meanwhile leaves it held this long
# (on SQLite, until the daemon is back: proxy.store.queues).
HOLD_MS = 30_000

NOT_FOUND = Answer(404, b"404: Not Found")
METHOD_NOT_ALLOWED = Answer(405, b"405: Method Not Allowed")


def code(value: int) -> bytes:
    return wire.encode_code(value)


class Delivery(NamedTuple):
    """An answer that took something out of a client's queue."""

    body: bytes
    batch: HeldBatch | None  # None: the queue was empty


class Refused(Exception):
    """Stop handling a request and answer this esms100 code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _answer_code(body: bytes) -> str:
    """The esms100 code an answer carries: a negative first line, else success."""
    head = body[:12].split(b"\n", 1)[0]
    return head.decode("ascii") if head.startswith(b"-") else "0"


Endpoint = Callable[["Legacy", Request, Engine], Awaitable["bytes | Delivery"]]


class Legacy:
    """The esms100 endpoints over the daemon's state.

    Each request takes the live engine once and carries it down: a reload
    meanwhile does not split one request across two configs.
    """

    def __init__(self, state: DaemonState) -> None:
        self.state = state
        self._endpoints: dict[str, tuple[str, Endpoint]] = {}
        for name, endpoint in (
            ("mt", Legacy.mt),
            ("qamount", Legacy.qamount),
            ("qreport", Legacy.qreport),
            ("mo", Legacy.mo),
            ("ent", Legacy.ent),
        ):
            self._endpoints[f"/{name}/"] = self._endpoints[f"/{name}"] = (name, endpoint)

    def __repr__(self) -> str:
        return f"<Legacy endpoints={sorted({n for n, _ in self._endpoints.values()})}>"

    async def respond(self, request: Request) -> Answer:
        found = self._endpoints.get(request.path)
        if found is None:
            return NOT_FOUND
        if request.method != "GET" and request.method != "POST":
            return METHOD_NOT_ALLOWED
        name, endpoint = found
        metrics = self.state.metrics
        started = time.perf_counter()
        in_flight = name == "mt"
        if in_flight:
            metrics.sends_in_flight.inc()
        batch = None
        try:
            body = await endpoint(self, request, self.state.engine)
            if isinstance(body, Delivery):
                body, batch = body
        except Refused as refused:
            body = code(refused.code)
        except StoreBusy as exc:
            # Before anything was sent (a store call failing after a vendor's
            # answer is logged and the answer stands): the client tries again.
            log.warning("store_busy", path=request.path, error=str(exc))
            body = code(-1 if name == "ent" else -15)  # /ent/ answers only 0 or -1
        except Exception:
            log.exception("unexpected_error", path=request.path)
            body = code(-110)
        finally:
            if in_flight:
                metrics.sends_in_flight.dec()
        metrics.legacy_request(name, _answer_code(body), time.perf_counter() - started)
        return Answer(200, body, batch)

    @staticmethod
    def zone(engine: Engine) -> ZoneInfo:
        """Where the legacy clients' clocks are: ``legacy.timezone`` of the engine's config."""
        return ZoneInfo(engine.settings.legacy.timezone)

    def read_params(self, request: Request) -> wire.Params:
        if request.oversize:
            raise Refused(-8)
        return wire.decode_params(request.query, request.body if request.method == "POST" else b"")

    async def authenticate(self, request: Request, params: wire.Params, engine: Engine) -> Client:
        cpid, cppwd = params.get("cpid"), params.get("cppwd")
        if cpid is None:
            raise Refused(-2)
        if cppwd is None:
            raise Refused(-3)
        try:
            client = await engine.clients.verify(cpid, cppwd, request.remote)
        except LockedOut:
            raise Refused(-9) from None
        if client is None:
            log.info("auth_failed", cpid=cpid[:64], remote=request.remote)
            raise Refused(-1)
        structlog.contextvars.bind_contextvars(client=client.cpid)
        if not await client.take_request():
            self.state.metrics.client_over_rate.labels(client.cpid).inc()
            raise Refused(-15)
        return client

    async def mt(self, request: Request, engine: Engine) -> bytes:
        params = self.read_params(request)
        # Who is asking first (cheap), so a turn can be fair to each client.
        client = await self.authenticate(request, params, engine)
        # A turn before any work: beyond the vendors' connection pools more
        # concurrency only queues inside, holding memory while it waits.
        try:
            async with engine.admission.turn(client.cpid):
                return await self._mt(params, client, engine)
        except Busy:
            raise Refused(-15) from None

    async def _mt(self, params: wire.Params, client: Client, engine: Engine) -> bytes:
        text, phone = params.get("msgtext"), params.get("phone")
        if text is None:
            raise Refused(-4)
        if phone is None:
            raise Refused(-5)
        limits = engine.settings.legacy
        if len(text) > limits.max_text_chars:
            raise Refused(-7)
        recipients = normalise(phone)
        if recipients.given > limits.max_numbers:
            raise Refused(-8)
        if not recipients.valid:
            raise Refused(-16)
        send_id = engine.sender.new_send_id()
        structlog.contextvars.bind_contextvars(send_id=send_id)
        if recipients.invalid:
            log.info("invalid_numbers_dropped", count=len(recipients.invalid))
        result = await engine.sender.send(client, send_id, recipients.valid, text)
        return code(result)

    async def qamount(self, request: Request, engine: Engine) -> bytes:
        """Segments the client can still send (esms100's 剩余条数); never ``0`` while sends pass.

        What the vendors can take is the sum of their known balances, each as
        its last balance check found it less the segments the vendor accepted
        since; a vendor an operator drained counts for nothing.  A vendor whose
        balance is not known (sms10000 has no balance query; the others until
        their first check) may take any amount, so while there is one the
        vendors' figure is at least ``legacy.unknown_balance_segments``
        (10,000): legacy systems that stop sending at ``0``, or check the
        figure before a batch, must not stop while sends succeed.

        A client with a ``quota`` is answered what is left of it, or what the
        vendors can take when that is less.  ``0`` therefore means the quota
        or the vendors' money is spent (or an operator drained every vendor).
        """
        client = await self.authenticate(request, self.read_params(request), engine)
        known, unknown = 0, False
        for vendor in engine.router.vendors.values():
            health = vendor.health
            if health.held:
                continue  # takes nothing until an operator enables it
            if health.balance_segments is None:
                unknown = True
            else:
                known += health.balance_segments
        vendors = max(known, engine.settings.legacy.unknown_balance_segments) if unknown else known
        quota = client.settings.quota
        if quota is None:
            return code(vendors)
        left = max(0, quota - await self.state.store.quotas.quota_used(client.cpid))
        # Unknown balances bound nothing: the quota is then all that is known.
        return code(left if unknown else min(left, vendors))

    async def qreport(self, request: Request, engine: Engine) -> Delivery:
        client = await self.authenticate(request, self.read_params(request), engine)
        store = self.state.store
        held, queued = await store.queues.hold_reports(client.cpid, REPORTS_PER_POLL, HOLD_MS)
        lines = (ReportLine(r.sent_at, r.phone, r.status) for r in queued)
        return Delivery(
            wire.encode_reports(lines, self.zone(engine)), self._batch("reports", client, held)
        )

    async def mo(self, request: Request, engine: Engine) -> Delivery:
        client = await self.authenticate(request, self.read_params(request), engine)
        store = self.state.store
        held, queued = await store.queues.hold_replies(client.cpid, REPLIES_PER_POLL, HOLD_MS)
        records = (ReplyRecord(r.received_at, r.phone, r.text) for r in queued)
        return Delivery(
            wire.encode_replies(records, self.zone(engine)), self._batch("replies", client, held)
        )

    def _batch(self, kind: QueueKind, client: Client, held: HoldReceipt) -> HeldBatch | None:
        if not held.keys:
            return None
        return HeldBatch(self.state.store.queues, kind, client.cpid, held)

    async def ent(self, request: Request, engine: Engine) -> bytes:
        """Change the password.  esms100 answers only ``0`` or ``-1`` here.

        ``-1`` for a wrong ``oldpwd`` (a failed login, throttled like the
        others: during a lock-out ``-1`` unchecked), and for a new password
        /ent/ refuses: fewer than ``login.min_password_chars`` or more than 20
        characters (esms100: 1 to 20), or any character other than printable
        ASCII without the space (0x21-0x7E).  ``newpwd`` is taken exactly as
        sent, never trimmed.  A refusal is logged with its reason, never the
        password.  ``-110`` (beyond esms100's two) when the store took the new
        password without answering, twice: it may or may not have been made.
        """
        try:
            params = self.read_params(request)
        except Refused:
            return code(-1)  # beyond legacy.max_body_bytes: elsewhere -8
        cpid, oldpwd = params.get("cpid"), params.get("oldpwd")
        if cpid is None or oldpwd is None:
            return code(-1)
        book = engine.clients
        try:
            client = await book.verify(cpid, oldpwd, request.remote)
        except LockedOut:
            return code(-1)
        if client is None:
            log.info("password_change_refused", cpid=cpid[:64], reason="wrong oldpwd")
            return code(-1)
        # As sent: Params.get() trims, and a password is what the client typed.
        newpwd = params.values.get("newpwd")
        problem = new_password_problem(newpwd, engine.settings.login.min_password_chars)
        if newpwd is None or problem is not None:
            log.info("password_change_refused", client=client.cpid, reason=problem)
            return code(-1)
        try:
            await book.change_password(client, newpwd)
        except PasswordChangeUnknown as exc:
            log.warning("password_change_unknown", client=client.cpid, error=repr(exc.__cause__))
            return code(-110)
        log.info("password_changed", client=client.cpid)
        return code(0)
