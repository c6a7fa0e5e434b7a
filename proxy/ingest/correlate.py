"""Which send a delivery report is for (sans-io: rows in, a settlement out).

A report names the vendor account that gave it, the phone, and where the
vendor has one, a message id: sms.cn's mobileid (ours, one per phone), c123's
and chuanglan's msgid (one per request, so the phone picks the record),
sms10000's msgId (our attempt id).  Send records carry the vendor *name*
that took each recipient, so a report of a message that failed over is
matched to the vendor that really sent it, never to the one that refused it.

The rules, in order:

1. A record of the account with the report's message id and phone is the
   one.  If it already has a report of this status, the report is a
   duplicate.
2. esms100 gives no id, only the send time, by its clock, in whole
   seconds.  Our record is written just before the request leaves, so the
   vendor's time is at or after it, floored to the second: the record is
   made before ``at + FLOOR_MS``.  Of those, the newest to that phone wins
   (an older one had its own, earlier, time); records made later (a vendor
   clock running behind) come next, nearest first; records more than
   :data:`SLACK_MS` away either side are not considered.  Records with no
   report of this status yet are preferred.  A report without a time takes
   the oldest record.
3. A report with an id that no record carries may be for an ambiguous
   attempt, whose record has no id.  Rule 2 applies to those records, but
   only once the retry time is over: until then the right record may
   simply not be on disk yet.
4. Nothing found: retried (the group-committed record may not be written
   yet) with a back-off growing with the report's age, until
   ``unmatched_retry_s`` after it arrived; then kept as unmatched.

The report handed to the client carries the record's time, which is the
send time the client knows (esms100's line is ``send time||number||status``).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from datetime import UTC, datetime

from proxy.store.inbox import InboxReport
from proxy.store.queues import QueuedReport
from proxy.store.sends import SendCandidate
from proxy.store.settlement import ReportMatched, ReportRetry, ReportSettlement, ReportUnmatched

SLACK_MS = 120_000
FLOOR_MS = 1_000  # vendors' times are in whole seconds
MIN_RETRY_MS = 250
MAX_RETRY_MS = 5_000

Taken = Set[tuple[int, int]]  # (record key, status) matched earlier in this batch


def _free(report: InboxReport, record: SendCandidate, taken: Taken) -> bool:
    return report.status not in record.reported and (record.key, report.status) not in taken


def choose(
    report: InboxReport,
    candidates: Sequence[SendCandidate],
    taken: Taken = frozenset(),
    *,
    final: bool = False,
) -> SendCandidate | None:
    """The record the report is for, or None to retry (or give up, when ``final``).

    A record that already has a report of this status may be returned: the
    report is then a duplicate, and the store will say so.
    """
    if report.message_id is not None:
        exact = [c for c in candidates if c.message_id == report.message_id]
        if exact:
            return next((c for c in exact if _free(report, c, taken)), exact[0])
        if not final:
            return None
        pool = [c for c in candidates if c.message_id is None]
    else:
        pool = list(candidates)
    at = report.reported_ms
    if at is None:
        ordered = sorted(pool, key=lambda c: (c.created_ms, c.key))
    else:
        latest = at + FLOOR_MS  # a record made at or after this came too late
        ordered = sorted(
            (c for c in pool if abs(c.created_ms - at) <= SLACK_MS),
            key=lambda c: (c.created_ms >= latest, abs(latest - c.created_ms), c.key),
        )
    free = [c for c in ordered if _free(report, c, taken)]
    if free:
        return free[0]
    # Every record it could be for has its report already: a duplicate, unless
    # the record it is for is not on disk yet.  Only time tells the two apart.
    return ordered[0] if ordered and final else None


def retry_delay_ms(report: InboxReport, now_ms: int) -> int:
    return max(MIN_RETRY_MS, min(MAX_RETRY_MS, (now_ms - report.received_ms) // 2))


def settle(
    report: InboxReport,
    candidates: Sequence[SendCandidate],
    taken: Taken,
    now_ms: int,
    retry_for_ms: int,
) -> ReportSettlement:
    give_up_at = report.received_ms + retry_for_ms
    final = now_ms >= give_up_at
    record = choose(report, candidates, taken, final=final)
    if record is not None:
        queued = QueuedReport(
            report.phone, report.status, datetime.fromtimestamp(record.created_ms / 1000, UTC)
        )
        return ReportMatched(report.id, record.key, record.cpid, queued)
    if final:
        return ReportUnmatched(report.id)
    next_try = min(now_ms + retry_delay_ms(report, now_ms), give_up_at)
    return ReportRetry(report.id, next_try)
