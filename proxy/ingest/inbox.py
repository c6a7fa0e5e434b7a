"""What a vendor handed over, as inbox rows with their de-duplication keys (sans-io).

A key is unique per account; the store drops a row whose key it already
has, which is what makes a re-push or a report polled twice harmless.

* A report with a message id: ``id|message id|phone|raw status``.  The
  same message reported again with the same status is the same report.
* A report without one (esms100): ``t|phone|vendor time|raw status|n``,
  where ``n`` counts identical lines within one batch.  Two sends to one
  phone in one second give two identical lines in one poll, and both are
  kept; the same line in a later batch is a duplicate.  (A report returned
  twice within one batch is caught later: a send record takes one report
  of each status.)
* A reply with the vendor's id (sms10000's msgId): a digest of that id with
  phone, vendor time, text and part.  The id alone would do if it were unique, but the
  document's own example gives two different replies one msgId; the same
  id with the same words is a re-push.
* A reply without: a digest of phone, vendor time, text and part, plus
  ``n`` as above.  A person who sends the same words twice within the
  vendor's time resolution (a minute at esms100), in two batches, is taken
  to have sent them once.  The number replied to is not part of it: sms.cn
  both pushes a reply (6.2, without it) and lists it on ``/rx/`` (with it),
  and the two are one reply; the same words from one phone to two of a
  vendor's numbers within its time resolution, in two batches, are one too.

Phones are normalised as the legacy endpoint normalises recipients, so a
vendor that echoes ``+86`` still matches the record.  Times are epoch
milliseconds: the adapters hand over aware datetimes, read in each vendor's
``timezone``, so the host's zone plays no part.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from adapters.base import Reply, Report
from proxy.numbers import normalise_one
from proxy.store.inbox import InboxReply, InboxReport


def to_ms(t: datetime | None) -> int | None:
    if t is None:
        return None
    if t.utcoffset() is None:
        # A naive time would be read in the host's zone: an adapter forgot its own.
        raise ValueError(f"a vendor time without a zone: {t.isoformat()}")
    return int(t.timestamp() * 1000)


def report_rows(account: str, reports: Sequence[Report], received_ms: int) -> list[InboxReport]:
    seen: Counter[str] = Counter()
    rows: list[InboxReport] = []
    for r in reports:
        phone = normalise_one(r.phone.strip())
        reported_ms = to_ms(r.time)
        if r.message_id:
            key = f"id|{r.message_id}|{phone}|{r.raw_status}"
        else:
            base = f"t|{phone}|{reported_ms if reported_ms is not None else ''}|{r.raw_status}"
            key = f"{base}|{seen[base]}"
            seen[base] += 1
        rows.append(
            InboxReport(
                account,
                key,
                phone,
                int(r.status),
                r.raw_status,
                r.message_id or None,
                reported_ms,
                received_ms,
            )
        )
    return rows


def reply_rows(account: str, replies: Sequence[Reply], received_ms: int) -> list[InboxReply]:
    seen: Counter[str] = Counter()
    rows: list[InboxReply] = []
    for r in replies:
        phone = normalise_one(r.phone.strip())
        sent_ms = to_ms(r.time)
        part = r.part
        fields = (
            phone,
            "" if sent_ms is None else str(sent_ms),
            r.text,
            # Once the number replied to: empty, so keys of replies without one
            # (every vendor's but sms.cn's /rx/) are those stored before.
            "",
            "" if part is None else f"{part.ref}/{part.total}/{part.index}",
        )
        if r.message_id:
            key = f"id|{_digest(r.message_id, *fields)}"
        else:
            digest = _digest(*fields)
            key = f"h|{digest}|{seen[digest]}"
            seen[digest] += 1
        rows.append(
            InboxReply(
                account,
                key,
                phone,
                r.text,
                sent_ms,
                r.dest,
                None if part is None else part.ref,
                None if part is None else part.total,
                None if part is None else part.index,
                received_ms,
            )
        )
    return rows


def _digest(*fields: str) -> str:
    return hashlib.blake2b("\x1f".join(fields).encode(), digest_size=16).hexdigest()
