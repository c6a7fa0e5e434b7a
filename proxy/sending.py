"""One legacy send, from validated input to the esms100 code the client gets."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
import time
from collections.abc import Sequence
from functools import partial

import structlog

from adapters.client import VendorClient, wall_ms
from config.settings import Settings
from core.busy import StoreBusy
from core.outcome import Outcome
from core.send import segments
from proxy.clients import Client
from proxy.ledger import SendLedger
from proxy.metrics import Metrics
from proxy.recorder import SendRecorder
from proxy.retries import Held, RecentTexts, SendLocks
from proxy.store.base import Store
from proxy.store.claims import ClaimWindow, Taken
from proxy.store.quotas import QuotaAsk, QuotaExhausted
from routing.answer import legacy_code
from routing.router import RoutePolicy, Router
from routing.rulebook import RuleBook

log = structlog.get_logger("smsproxy.send")

QUOTA_EXHAUSTED = -10

Groups = list[tuple[RoutePolicy, list[str]]]


def _nothing() -> None:
    pass


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


class SendService:
    def __init__(
        self,
        router: Router[VendorClient],
        recorder: SendRecorder,
        store: Store,
        settings: Settings,
        metrics: Metrics | None = None,
        recent: RecentTexts | None = None,
        locks: SendLocks | None = None,
    ) -> None:
        self.router = router
        # None: the store is shared with other daemons, only it knows.
        self.recent = recent
        self.recorder = recorder
        self.store = store
        self.rulebook = RuleBook(settings)
        routing = settings.routing
        self.deadline_s = routing.send_deadline_s
        self.dedup_window_ms = int(routing.dedup_window_s * 1000)
        self.unresolved_ms = int(min(routing.unresolved_expire_s, routing.dedup_window_s) * 1000)
        # Past the deadline and a rate wait, a live send has left its claims.
        self.stale_claim_ms = int((routing.send_deadline_s + routing.rate_wait_s + 5) * 1000)
        # The process's, passed on by a reload: a retry that arrives while the
        # first send runs on the old engine still waits for it.
        self.locks = locks if locks is not None else SendLocks()
        self.metrics = metrics
        # Sends answered whose outcomes are still being written (see proxy.ledger).
        self._settling: set[asyncio.Task[None]] = set()
        # Send ids: random for this service, then counted.  os.urandom for
        # each send cost 20 us at full rate (a profile of the saturation run).
        self._id_prefix = secrets.token_hex(6)
        self._ids = itertools.count()

    def __repr__(self) -> str:
        return f"<SendService {self.rulebook!r} {self.router!r}>"

    def new_send_id(self) -> str:
        """Unique to this send among every daemon's and every restart's (a claim's
        owner on Redis is its send id)."""
        return f"{self._id_prefix}{next(self._ids):08x}"

    async def send(self, client: Client, send_id: str, phones: Sequence[str], text: str) -> int:
        digest = text_digest(text)
        cpid = client.cpid
        groups: Groups = self.rulebook.groups(
            self.rulebook.context(cpid, text, len(phones)), phones
        )
        ledger = SendLedger(self.recorder, send_id, cpid, digest, segments(text))
        if not self.dedup_window_ms:
            code = await self._send(client, phones, text, groups, (), ledger, reserved=False)
            if ledger.settling:
                self._after(ledger, None, cpid, digest, send_id, ())
            return code
        key = (cpid, digest)
        locks = self.locks
        held: Held | None = locks.try_hold(key, phones) or await locks.acquire(key, phones)
        claimed: Sequence[str] = ()
        quota = client.settings.quota
        reserved = False
        try:
            unresolved: Sequence[str] = ()
            # A text the filter has surely not seen needs no look-up: every OTP.
            if self.recent is None or self.recent.seen(cpid, digest, phones):
                resend = frozenset(p for policy, g in groups if policy.ambiguous_resends for p in g)
                window = ClaimWindow(
                    wall_ms(), self.dedup_window_ms, self.unresolved_ms, resend, self.stale_claim_ms
                )
                # The quota is reserved with the claims: one store call, not two.
                ask = None if quota is None else QuotaAsk(ledger.segments, quota)
                try:
                    taken = await self.store.claims.claim_recipients(
                        cpid, digest, send_id, phones, window, ask
                    )
                except QuotaExhausted:
                    log.info("quota_exhausted", recipients=len(phones))
                    return QUOTA_EXHAUSTED
                claimed = phones
                reserved = ask is not None
                if taken:
                    phones, groups, unresolved = self._leave_out(cpid, taken, phones, groups)
                    claimed = phones
                    if not phones:
                        return legacy_code([Outcome.AMBIGUOUS] * len(unresolved))
            code = await self._send(client, phones, text, groups, unresolved, ledger, reserved)
            if ledger.settling:
                # The client hears the answer now; the numbers stay held until
                # the outcome is written.
                self._after(ledger, held, cpid, digest, send_id, claimed)
                held = None
            return code
        finally:
            if held is not None:
                left = ledger.not_reached(claimed) if claimed else ()
                if ledger.settling:
                    # A send that failed (the store busy) after a vendor took or
                    # refused some numbers: a retry waiting on the locks must
                    # find their outcomes written, not in flight; and refused
                    # numbers' claims move back to claimed-only only then.
                    await ledger.settled()
                if left:
                    await self._release(cpid, digest, send_id, left)
                locks.release(held)

    def _after(
        self,
        ledger: SendLedger,
        held: Held | None,
        cpid: str,
        digest: str,
        send_id: str,
        claimed: Sequence[str],
    ) -> None:
        # Claims a vendor has or may have stay: they are what a retry must find.
        claimed = ledger.not_reached(claimed) if claimed else ()
        if not claimed:
            # Every fresh text (each verification code), and every send a vendor
            # took: nothing to release in the store, only the numbers' locks
            # once the outcome is written.
            ledger.when_settled(_nothing if held is None else partial(self.locks.release, held))
            return

        async def finish() -> None:
            try:
                await ledger.settled()
                await self._release(cpid, digest, send_id, claimed)
            finally:
                if held is not None:
                    self.locks.release(held)

        task = asyncio.create_task(finish(), name=f"settle-{send_id}")
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    def _leave_out(
        self, cpid: str, taken: list[Taken], phones: Sequence[str], groups: Groups
    ) -> tuple[list[str], Groups, list[str]]:
        """Drop the recipients a vendor has or may have; the unresolved among them."""
        skip = {t.phone for t in taken}
        unresolved = [t.phone for t in taken if not t.accepted]
        log.info("retry_deduplicated", recipients=len(skip), unresolved=len(unresolved))
        if self.metrics is not None:
            self.metrics.retries_deduplicated.labels(cpid).inc(len(skip) - len(unresolved))
            if unresolved:
                self.metrics.retries_unresolved.labels(cpid).inc(len(unresolved))
        left = [p for p in phones if p not in skip]
        groups = [
            (policy, kept) for policy, g in groups if (kept := [p for p in g if p not in skip])
        ]
        return left, groups, unresolved

    async def _give_back_quota(self, cpid: str, segments: int) -> None:
        """What unsent recipients reserved.  A failure is logged: the send's answer
        stands (a 0 changed to an error after a vendor took the message would
        have the client send it again)."""
        try:
            await self.store.quotas.release_quota(cpid, segments)
        except Exception as exc:
            log.warning("quota_not_released", segments=segments, error=repr(exc))

    async def _release(self, cpid: str, digest: str, send_id: str, phones: Sequence[str]) -> None:
        try:
            await self.store.claims.release_claims(cpid, digest, send_id, phones)
        except Exception as exc:
            # Left claimed, they read as unresolved until the claim goes stale.
            log.warning("claims_not_released", recipients=len(phones), error=repr(exc))

    async def _send(
        self,
        client: Client,
        phones: Sequence[str],
        text: str,
        groups: Groups,
        unresolved: Sequence[str],
        ledger: SendLedger,
        reserved: bool,
    ) -> int:
        """Route the send; ``reserved``: its quota was reserved with its claims."""
        per_recipient = ledger.segments
        quota = client.settings.quota
        if (
            quota is not None
            and not reserved
            and not await self.store.quotas.reserve_quota(
                client.cpid, per_recipient * len(phones), quota
            )
        ):
            log.info("quota_exhausted", recipients=len(phones))
            return QUOTA_EXHAUSTED
        deadline = time.monotonic() + self.deadline_s
        route = self.router.route
        unrecorded: list[str] = []  # of a group the store was busy for, once another was sent
        busy: StoreBusy | None = None
        try:
            if len(groups) == 1:  # the common case: no task and no gather for one group
                policy, group = groups[0]
                results = [await route(group, text, deadline, policy, ledger)]
            else:
                # Every group's route ends before the send does, even when one
                # fails: the others may be at vendors, and their claims must not
                # be released (nor their quota given back) under them.
                ended = await asyncio.gather(
                    *(route(g, text, deadline, p, ledger) for p, g in groups),
                    return_exceptions=True,
                )
                results = []
                for (_, group), one in zip(groups, ended, strict=True):
                    if isinstance(one, StoreBusy):
                        busy = busy or one
                        unrecorded += group
                    elif isinstance(one, BaseException):
                        raise one
                    else:
                        results.append(one)
            for result in results:
                busy = busy or result.busy
            if busy is not None:
                # Part of the send was not recorded, so not sent.  "Busy, try
                # again" (-15) while no vendor has any of it, or while the
                # retry is de-duplicated (what a vendor has is answered 0,
                # not sent again); otherwise the retry would send that part
                # twice, and the unsent part fails (-110).
                if self.dedup_window_ms or not any(r.reached() for r in results):
                    raise busy
                log.error("attempt_not_recorded", error=repr(busy), after="part of the send")
        except Exception:
            # An attempt could not be recorded (the store busy: the client is
            # told to try again) or routing failed: what the recipients no
            # vendor has reserved goes back, what others of this send took
            # stays spent.
            unsent = ledger.not_reached(phones)
            if quota is not None and unsent:
                await self._give_back_quota(client.cpid, per_recipient * len(unsent))
            raise
        # Recipients a vendor may already have (an earlier send): not sent, not 0.
        failed: list[Outcome] = [Outcome.AMBIGUOUS] * len(unresolved)
        failed += [Outcome.REQUEST_INVALID] * len(unrecorded)
        accepted = 0
        for result in results:
            failed += result.failed.values()
            for a in result.attempts:
                if a.outcome is Outcome.ACCEPTED:
                    accepted += len(a.phones)
        unruled = len(phones) - sum(len(g) for _, g in groups)
        if unruled:
            failed += [Outcome.UNREACHABLE] * unruled
        if quota is not None and accepted < len(phones):
            await self._give_back_quota(client.cpid, per_recipient * (len(phones) - accepted))
        code = legacy_code(failed) if failed else 0
        # A line per send costs as much as a tenth of the send at full rate:
        # successes are debug, anything else is info.  Checked first, as the
        # line's fields cost more to gather than a filtered-out call.
        if code or log.is_enabled_for(logging.DEBUG):
            (log.info if code else log.debug)(
                "send_done",
                code=code,
                recipients=len(phones),
                accepted=accepted,
                rules=[policy.rule for policy, _ in groups],
                vendors=sorted({a.vendor for r in results for a in r.accepted()}),
            )
        return code
