"""One legacy send, from validated input to the esms100 code the client gets."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import structlog

from adapters.base import segments
from proxy.clients import Client
from proxy.recorder import SendRecorder
from proxy.store.base import SendRecord, Store
from routing.answer import legacy_code
from routing.outcome import Outcome
from routing.router import Router, RouteResult

log = structlog.get_logger("smsproxy.send")

QUOTA_EXHAUSTED = -10


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


class SendService:
    def __init__(
        self, router: Router, recorder: SendRecorder, store: Store, deadline_s: float
    ) -> None:
        self.router = router
        self.recorder = recorder
        self.store = store
        self.deadline_s = deadline_s

    def __repr__(self) -> str:
        return f"<SendService deadline={self.deadline_s}s {self.router!r}>"

    async def send(self, client: Client, send_id: str, phones: Sequence[str], text: str) -> int:
        per_recipient = segments(text)
        quota = client.settings.quota
        if quota is not None and not await self.store.reserve_quota(
            client.cpid, per_recipient * len(phones), quota
        ):
            log.info("quota_exhausted", recipients=len(phones))
            return QUOTA_EXHAUSTED
        deadline = time.monotonic() + self.deadline_s
        result = await self.router.route(phones, text, deadline)
        accepted = sum(len(a.phones) for a in result.accepted())
        if quota is not None and accepted < len(phones):
            await self.store.release_quota(client.cpid, per_recipient * (len(phones) - accepted))
        await self._record(client, send_id, text, per_recipient, result)
        code = legacy_code(result.failed.values())
        log.info(
            "send_done",
            code=code,
            recipients=len(phones),
            accepted=accepted,
            vendors=sorted({a.vendor for a in result.accepted()}),
        )
        return code

    async def _record(
        self, client: Client, send_id: str, text: str, per_recipient: int, result: RouteResult
    ) -> None:
        now = int(time.time() * 1000)
        digest = text_digest(text)
        records = [
            SendRecord(
                send_id,
                client.cpid,
                a.vendor,
                phone,
                a.outcome.value,
                a.raw_code,
                a.message_ids.get(phone),
                digest,
                per_recipient,
                now,
            )
            for a in result.attempts
            # An ambiguous attempt may have been delivered: it is kept so that
            # reports can still match it and a retry does not send it twice.
            if a.outcome in (Outcome.ACCEPTED, Outcome.AMBIGUOUS)
            for phone in a.phones
        ]
        try:
            await self.recorder.record(records)
        except Exception as exc:
            # The vendor has the messages: telling the client otherwise would
            # make it send them again.  Loud, but the answer stands.
            log.error("send_records_lost", records=len(records), error=repr(exc))
