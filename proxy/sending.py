"""One legacy send, from validated input to the esms100 code the client gets."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence

import structlog

from adapters.base import segments
from config.settings import Settings
from proxy.clients import Client
from proxy.metrics import Metrics
from proxy.recorder import SendRecorder
from proxy.retries import RecentTexts, SendLocks
from proxy.store.base import SendRecord, Store
from routing.answer import legacy_code
from routing.outcome import Outcome
from routing.router import Router, RouteResult
from routing.rulebook import RuleBook

log = structlog.get_logger("smsproxy.send")

QUOTA_EXHAUSTED = -10


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


class SendService:
    def __init__(
        self,
        router: Router,
        recorder: SendRecorder,
        store: Store,
        settings: Settings,
        metrics: Metrics | None = None,
        recent: RecentTexts | None = None,
    ) -> None:
        self.router = router
        # None: the store is shared with other daemons, only it knows.
        self.recent = recent
        self.recorder = recorder
        self.store = store
        self.rulebook = RuleBook(settings)
        self.deadline_s = settings.routing.send_deadline_s
        self.dedup_window_ms = int(settings.routing.dedup_window_s * 1000)
        self.locks = SendLocks()
        self.metrics = metrics

    def __repr__(self) -> str:
        return f"<SendService {self.rulebook!r} {self.router!r}>"

    async def send(self, client: Client, send_id: str, phones: Sequence[str], text: str) -> int:
        digest = text_digest(text)
        if not self.dedup_window_ms:
            return await self._send(client, send_id, phones, text, digest)
        key = (client.cpid, digest)
        locks = self.locks
        held = locks.try_hold(key, phones) or await locks.acquire(key, phones)
        try:
            # A text the filter has surely not seen needs no look-up: every OTP.
            if self.recent is None or self.recent.seen(client.cpid, digest, phones):
                since = int(time.time() * 1000) - self.dedup_window_ms
                done = await self.store.recent_recipients(client.cpid, digest, phones, since)
                if done:
                    log.info("retry_deduplicated", recipients=len(done))
                    if self.metrics is not None:
                        self.metrics.retries_deduplicated.labels(client.cpid).inc(len(done))
                    phones = [p for p in phones if p not in done]
                    if not phones:
                        return 0
            return await self._send(client, send_id, phones, text, digest)
        finally:
            locks.release(held)

    async def _send(
        self, client: Client, send_id: str, phones: Sequence[str], text: str, digest: str
    ) -> int:
        per_recipient = segments(text)
        quota = client.settings.quota
        if quota is not None and not await self.store.reserve_quota(
            client.cpid, per_recipient * len(phones), quota
        ):
            log.info("quota_exhausted", recipients=len(phones))
            return QUOTA_EXHAUSTED
        deadline = time.monotonic() + self.deadline_s
        ctx = self.rulebook.context(client.cpid, text, len(phones))
        groups = self.rulebook.groups(ctx, phones)
        if len(groups) == 1:  # the common case: no task and no gather for one group
            policy, group = groups[0]
            results = [await self.router.route(group, text, deadline, policy)]
        else:
            results = list(
                await asyncio.gather(*(self.router.route(g, text, deadline, p) for p, g in groups))
            )
        failed: list[Outcome] = []
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
            await self.store.release_quota(client.cpid, per_recipient * (len(phones) - accepted))
        await self._record(client, send_id, digest, per_recipient, results)
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

    async def _record(
        self,
        client: Client,
        send_id: str,
        digest: str,
        per_recipient: int,
        results: Sequence[RouteResult],
    ) -> None:
        now = int(time.time() * 1000)
        cpid = client.cpid
        records: list[SendRecord] = []
        # _make from a tuple: the generated __new__ costs half again, a
        # thousand times over for a 1000-number send.
        make = SendRecord._make
        for result in results:
            for a in result.attempts:
                # An ambiguous attempt may have been delivered: it is kept so that
                # reports can still match it and a retry does not send it twice.
                if a.outcome is not Outcome.ACCEPTED and a.outcome is not Outcome.AMBIGUOUS:
                    continue
                vendor, outcome, code, ids = a.vendor, a.outcome.value, a.raw_code, a.message_ids
                records += [
                    make(
                        (
                            send_id,
                            cpid,
                            vendor,
                            phone,
                            outcome,
                            code,
                            ids.get(phone),
                            digest,
                            per_recipient,
                            now,
                        )
                    )
                    for phone in a.phones
                ]
        try:
            await self.recorder.record(records)
        except Exception as exc:
            # The vendor has the messages: telling the client otherwise would
            # make it send them again.  Loud, but the answer stands.
            log.error("send_records_lost", records=len(records), error=repr(exc))
